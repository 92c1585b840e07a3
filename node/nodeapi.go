package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/aria-node/aria/energy"
	"github.com/aria-node/aria/inference/local"
	"github.com/aria-node/aria/models"
	"github.com/aria-node/aria/openai"
)

// The node's side of the API's own endpoints (openai/nodeapi.go): energy history from
// the ledger, the peer network, and the model store.

var (
	_ openai.EnergyHistorySource = (*Node)(nil)
	_ openai.NetworkSource       = (*Node)(nil)
	_ openai.ModelManager        = (*Node)(nil)
)

func apiBadRequest(msg string) *openai.APIError {
	return &openai.APIError{Status: http.StatusBadRequest, Type: openai.TypeInvalidRequest, Code: "invalid_request", Message: "Invalid request: " + msg}
}

// EnergyHistory sums the energy ledger per step.
func (n *Node) EnergyHistory(from, to time.Time, step time.Duration) (openai.EnergyHistory, error) {
	b, err := n.energy.History(from, to, step)
	if errors.Is(err, energy.ErrBadRange) {
		return openai.EnergyHistory{}, apiBadRequest(err.Error())
	}
	if err != nil {
		return openai.EnergyHistory{}, err
	}
	h := openai.EnergyHistory{From: from.UTC().Format(time.RFC3339), To: to.UTC().Format(time.RFC3339), StepSeconds: step.Seconds(),
		Method: n.energy.Method(), Buckets: make([]openai.EnergyBucket, len(b))}
	for i, x := range b {
		h.Buckets[i] = openai.EnergyBucket{Start: x.Start.UTC().Format(time.RFC3339), Timestamp: x.Start.Unix(), Inferences: x.Inferences,
			Tokens: x.Tokens, PromptTokens: x.PromptTokens, EnergyMJ: x.EnergyMJ}
		if x.Tokens > 0 {
			h.Buckets[i].MJPerToken = x.EnergyMJ / float64(x.Tokens)
		}
		h.Totals.Inferences += x.Inferences
		h.Totals.Tokens += x.Tokens
		h.Totals.EnergyMJ += x.EnergyMJ
	}
	if h.Totals.Tokens > 0 {
		h.Totals.MJPerToken = h.Totals.EnergyMJ / float64(h.Totals.Tokens)
	}
	return h, nil
}

// Network is this node's addresses and its connected peers.
func (n *Node) Network(ctx context.Context) openai.Network {
	rec := n.Record()
	out := openai.Network{NodeID: n.id.String(), WSURL: n.NodeURI(), Accepting: rec.Accepting, Load: rec.Load}
	if n.host != nil {
		out.Addrs = n.host.Addrs()
	}
	peers, _ := peerHandler{n}.Peers(ctx).([]PeerEntry)
	for _, p := range peers {
		out.Peers = append(out.Peers, openai.NetworkPeer{PeerID: p.PeerID, Addr: p.Addr, WSURL: p.WSURL, Models: p.Models,
			Load: p.Load, Accepting: p.Accepting, LatencyMS: p.LatencyMS})
	}
	return out
}

func (n *Node) modelStore() models.Store { return models.Store{Dir: ModelsDir(n.cfg.DataDir)} }

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// servedPaths maps the files the engine serves to their model IDs.
func (n *Node) servedPaths() map[string]string {
	out := map[string]string{}
	for _, m := range n.engine.Models() {
		out[absPath(m.Path)] = m.ID
	}
	return out
}

func toStoredModel(e models.Entry, served bool) openai.StoredModel {
	sm := openai.StoredModel{Name: e.Name, SizeBytes: e.Size, Served: served}
	if m := e.Manifest; m != nil {
		sm.Source, sm.Via, sm.SHA256, sm.Verified, sm.Imported = m.Source, m.Via, m.SHA256, m.Verified, m.Imported
	}
	return sm
}

// StoredModels lists the models in the data dir, marking those the engine serves.
func (n *Node) StoredModels(ctx context.Context) ([]openai.StoredModel, error) {
	ents, err := n.modelStore().List()
	if err != nil {
		return nil, err
	}
	served := n.servedPaths()
	out := make([]openai.StoredModel, 0, len(ents))
	for _, e := range ents {
		_, ok := served[absPath(e.Path)]
		out = append(out, toStoredModel(e, ok))
	}
	return out, nil
}

func (n *Node) storedModel(name string) (openai.StoredModel, error) {
	list, err := n.StoredModels(context.Background())
	if err != nil {
		return openai.StoredModel{}, err
	}
	for _, m := range list {
		if m.Name == name {
			return m, nil
		}
	}
	return openai.StoredModel{}, fmt.Errorf("model %s is not in the store after writing it", name)
}

// serveStored loads a stored model into the engine unless it is served already.
func (n *Node) serveStored(ctx context.Context, name string) error {
	p := n.modelStore().ModelPath(name)
	if _, ok := n.servedPaths()[absPath(p)]; ok {
		return nil
	}
	_, err := n.engine.Load(ctx, p, local.LoadOptions{})
	return err
}

// PullModel downloads a model into the data dir from the hub (as `aria model pull`
// does), verifies it, imports an I2_S file, and serves it. One pull runs at a time.
func (n *Node) PullModel(ctx context.Context, req openai.PullRequest, progress func(openai.PullProgress)) (openai.StoredModel, error) {
	if !n.pullMu.TryLock() {
		return openai.StoredModel{}, &openai.APIError{Status: http.StatusConflict, Type: openai.TypeInvalidRequest, Code: "pull_in_progress",
			Message: "another model pull is running on this node; try again when it ends"}
	}
	defer n.pullMu.Unlock()
	if req.Name != "" {
		if err := models.CheckName(req.Name); err != nil {
			return openai.StoredModel{}, apiBadRequest("'name': " + err.Error())
		}
	}
	if _, err := models.ParseRef(req.Model, models.HubEndpoint()); err != nil {
		return openai.StoredModel{}, apiBadRequest("'model': " + err.Error())
	}
	m, err := n.modelStore().Pull(ctx, req.Model, models.PullOptions{Name: req.Name, SHA256: req.SHA256, Log: n.log,
		Progress: func(p models.Progress) {
			progress(openai.PullProgress{Status: p.Phase, Completed: p.Done, Total: p.Total, BytesPerSec: p.BytesPerSec, ETASeconds: p.ETA.Seconds()})
		}})
	if err != nil {
		switch {
		case errors.Is(err, models.ErrUnknownModel):
			return openai.StoredModel{}, apiBadRequest(err.Error())
		case errors.Is(err, models.ErrHubNotFound):
			return openai.StoredModel{}, &openai.APIError{Status: http.StatusNotFound, Type: openai.TypeNotFound, Code: "model_not_found", Message: err.Error()}
		}
		return openai.StoredModel{}, &openai.APIError{Status: http.StatusBadGateway, Type: openai.TypeServer, Code: "pull_failed", Message: "pull failed: " + err.Error()}
	}
	progress(openai.PullProgress{Status: "load"})
	if err := n.serveStored(ctx, m.Name); err != nil {
		n.log.Warn("pulled model not served", "model", m.Name, "err", err)
	}
	return n.storedModel(m.Name)
}

// ImportModel imports an I2_S file from this machine into the data dir and serves it.
func (n *Node) ImportModel(ctx context.Context, req openai.ImportRequest) (openai.StoredModel, error) {
	if _, err := os.Stat(req.Path); err != nil {
		return openai.StoredModel{}, apiBadRequest("'path': " + err.Error())
	}
	m, _, err := n.modelStore().ImportFile(ctx, req.Path, req.Name, nil)
	if err != nil {
		return openai.StoredModel{}, apiBadRequest("import: " + err.Error())
	}
	if err := n.serveStored(ctx, m.Name); err != nil {
		n.log.Warn("imported model not served", "model", m.Name, "err", err)
	}
	return n.storedModel(m.Name)
}

// RemoveModel stops serving a stored model and deletes it (and its blob when no other
// model uses it).
func (n *Node) RemoveModel(ctx context.Context, name string) error {
	if err := models.CheckName(name); err != nil {
		return apiBadRequest(err.Error())
	}
	st := n.modelStore()
	if id, ok := n.servedPaths()[absPath(st.ModelPath(name))]; ok {
		if err := n.engine.Unload(id); err != nil {
			return err
		}
	}
	if err := st.Remove(name); err != nil {
		if errors.Is(err, models.ErrNotFound) {
			return &openai.APIError{Status: http.StatusNotFound, Type: openai.TypeNotFound, Code: "model_not_found", Message: err.Error()}
		}
		return err
	}
	return nil
}
