package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The node's own endpoints beyond the reference, which the dashboard (and scripts) use:
// the energy ledger as a time series, the peer network, and the model store (pull with
// progress, import, remove). Each is served when the node implements its interface.

// EnergyHistorySource serves GET /v1/energy/history. An *APIError it returns is
// written as is (a range the ledger refuses is a 400).
type EnergyHistorySource interface {
	EnergyHistory(from, to time.Time, step time.Duration) (EnergyHistory, error)
}

// NetworkSource serves GET /v1/network.
type NetworkSource interface {
	Network(ctx context.Context) Network
}

// ModelManager serves the model store: GET /v1/model-store, POST /v1/model-store/pull
// (NDJSON progress), POST /v1/model-store/import and DELETE /v1/model-store/{name}.
// Errors that are *APIError are written as is; others are 500s.
type ModelManager interface {
	StoredModels(ctx context.Context) ([]StoredModel, error)
	PullModel(ctx context.Context, req PullRequest, progress func(PullProgress)) (StoredModel, error)
	ImportModel(ctx context.Context, req ImportRequest) (StoredModel, error)
	RemoveModel(ctx context.Context, name string) error
}

// EnergyHistory is GET /v1/energy/history: the ledger summed per step over [from, to).
type EnergyHistory struct {
	From        string         `json:"from"`
	To          string         `json:"to"`
	StepSeconds float64        `json:"step_seconds"`
	Method      string         `json:"method"`
	Buckets     []EnergyBucket `json:"buckets"`
	Totals      EnergyTotals   `json:"totals"`
}

// EnergyBucket is one step of EnergyHistory.
type EnergyBucket struct {
	Start        string  `json:"start"`
	Timestamp    int64   `json:"timestamp"` // unix seconds of start
	Inferences   int64   `json:"inferences"`
	Tokens       int64   `json:"tokens"`
	PromptTokens int64   `json:"prompt_tokens"`
	EnergyMJ     float64 `json:"energy_mj"`
	MJPerToken   float64 `json:"mj_per_token"` // 0 when no token was generated
}

// EnergyTotals sums an EnergyHistory.
type EnergyTotals struct {
	Inferences int64   `json:"inferences"`
	Tokens     int64   `json:"tokens"`
	EnergyMJ   float64 `json:"energy_mj"`
	MJPerToken float64 `json:"mj_per_token"`
}

// Network is GET /v1/network: this node's addresses and the peers it is connected to.
type Network struct {
	NodeID    string        `json:"node_id"`
	WSURL     string        `json:"ws_url"`
	Addrs     []string      `json:"addrs"` // libp2p multiaddrs ending in /p2p/<node_id>, to give to --bootstrap
	Accepting bool          `json:"accepting"`
	Load      float64       `json:"load"`
	Peers     []NetworkPeer `json:"peers"`
}

// NetworkPeer is one connected peer.
type NetworkPeer struct {
	PeerID    string   `json:"peer_id"`
	Addr      string   `json:"addr"`
	WSURL     string   `json:"ws_url,omitempty"`
	Models    []string `json:"models"`
	Load      float64  `json:"load"`
	Accepting bool     `json:"accepting"`
	LatencyMS float64  `json:"latency_ms"`
}

// StoredModel is a model file in the node's data dir.
type StoredModel struct {
	Name      string `json:"name"`
	SizeBytes int64  `json:"size_bytes"`
	Source    string `json:"source,omitempty"` // URL, hf://…, or the imported file
	Via       string `json:"via,omitempty"`    // hub, peer, file; "" for synthesized or copied files
	SHA256    string `json:"sha256,omitempty"`
	Verified  bool   `json:"verified"`
	Imported  bool   `json:"imported"`
	Served    bool   `json:"served"` // loaded by the engine now
}

// PullRequest is the body of POST /v1/model-store/pull.
type PullRequest struct {
	Model  string `json:"model"`            // catalogue name, hf://OWNER/REPO/FILE or http(s) URL
	Name   string `json:"name,omitempty"`   // store name; default from the reference
	SHA256 string `json:"sha256,omitempty"` // expected digest
}

// ImportRequest is the body of POST /v1/model-store/import.
type ImportRequest struct {
	Path string `json:"path"`           // an I2_S GGUF on the node's machine
	Name string `json:"name,omitempty"` // store name; default from the file name
}

// PullProgress is one NDJSON line of a pull.
type PullProgress struct {
	Status      string       `json:"status"` // download, peer, verify, import, load, success, error
	Completed   int64        `json:"completed"`
	Total       int64        `json:"total"` // 0 when unknown
	Percent     float64      `json:"percent"`
	BytesPerSec float64      `json:"bytes_per_sec,omitempty"`
	ETASeconds  float64      `json:"eta_seconds,omitempty"`
	Model       *StoredModel `json:"model,omitempty"` // on success
	Error       *ErrorBody   `json:"error,omitempty"` // on error
}

func (s *Server) nodeRoutes() []route {
	return []route{
		{"/v1/energy/history", map[string]http.HandlerFunc{"GET": s.handleEnergyHistory}},
		{"/v1/network", map[string]http.HandlerFunc{"GET": s.handleNetwork}},
		{"/v1/model-store", map[string]http.HandlerFunc{"GET": s.handleStoredModels}},
		{"/v1/model-store/pull", map[string]http.HandlerFunc{"POST": s.handlePull}},
		{"/v1/model-store/import", map[string]http.HandlerFunc{"POST": s.handleImport}},
		{"/v1/model-store/{name}", map[string]http.HandlerFunc{"DELETE": s.handleRemoveModel}},
	}
}

func unavailable(code, what string) *APIError {
	return &APIError{Status: http.StatusServiceUnavailable, Type: TypeServiceUnavailable, Code: code, Message: what + " is not available on this server"}
}

func asAPIError(err error) *APIError {
	var api *APIError
	if errors.As(err, &api) {
		return api
	}
	return &APIError{Status: http.StatusInternalServerError, Type: TypeServer, Code: "internal_error", Message: err.Error()}
}

// DefaultHistorySteps is how many steps GET /v1/energy/history makes when no step is given.
const DefaultHistorySteps = 120

// parseHistoryQuery reads from, to (RFC 3339 or unix seconds; default the last 24 h up
// to now) and step (a Go duration such as 5m, or seconds; default (to-from)/120).
func parseHistoryQuery(q map[string][]string, now time.Time) (from, to time.Time, step time.Duration, e *APIError) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	to = now
	if v := get("to"); v != "" {
		t, err := parseTimeParam(v)
		if err != nil {
			return from, to, 0, invalidRequest("'to' must be an RFC 3339 time or unix seconds, got %q", truncateString(v, 64))
		}
		to = t
	}
	from = to.Add(-24 * time.Hour)
	if v := get("from"); v != "" {
		t, err := parseTimeParam(v)
		if err != nil {
			return from, to, 0, invalidRequest("'from' must be an RFC 3339 time or unix seconds, got %q", truncateString(v, 64))
		}
		from = t
	}
	if !from.Before(to) {
		return from, to, 0, invalidRequest("'from' (%s) must be before 'to' (%s)", from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	}
	if v := get("step"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			secs, err2 := strconv.ParseFloat(v, 64)
			if err2 != nil || math.IsNaN(secs) || math.IsInf(secs, 0) || secs > 1e9 {
				return from, to, 0, invalidRequest("'step' must be a duration such as 60s, 5m or 1h, or seconds, got %q", truncateString(v, 64))
			}
			d = time.Duration(secs * float64(time.Second))
		}
		step = d
	} else {
		step = max(time.Second, (to.Sub(from)+DefaultHistorySteps-1)/DefaultHistorySteps).Round(time.Second)
	}
	if step < time.Second {
		return from, to, 0, invalidRequest("'step' must be at least 1s, got %s", step)
	}
	return from, to, step, nil
}

func parseTimeParam(v string) (time.Time, error) {
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if math.IsNaN(secs) || math.IsInf(secs, 0) || secs < 0 || secs > 1e11 {
			return time.Time{}, fmt.Errorf("out of range")
		}
		return time.Unix(0, int64(secs*1e9)).UTC(), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a time")
}

func (s *Server) handleEnergyHistory(w http.ResponseWriter, r *http.Request) {
	src, ok := s.cfg.Energy.(EnergyHistorySource)
	if !ok {
		writeError(w, unavailable("energy_unavailable", "the energy ledger"))
		return
	}
	from, to, step, e := parseHistoryQuery(r.URL.Query(), time.Now())
	if e != nil {
		writeError(w, e)
		return
	}
	h, err := src.EnergyHistory(from, to, step)
	if err != nil {
		writeError(w, asAPIError(err))
		return
	}
	if h.Buckets == nil {
		h.Buckets = []EnergyBucket{}
	}
	writeJSON(w, http.StatusOK, h)
}

func (s *Server) handleNetwork(w http.ResponseWriter, r *http.Request) {
	src, ok := s.cfg.Node.(NetworkSource)
	if !ok {
		writeError(w, unavailable("network_unavailable", "the peer network"))
		return
	}
	n := src.Network(r.Context())
	if n.Addrs == nil {
		n.Addrs = []string{}
	}
	if n.Peers == nil {
		n.Peers = []NetworkPeer{}
	}
	writeJSON(w, http.StatusOK, n)
}

func (s *Server) modelManager(w http.ResponseWriter) (ModelManager, bool) {
	m, ok := s.cfg.Backend.(ModelManager)
	if !ok {
		writeError(w, unavailable("model_store_unavailable", "the model store"))
	}
	return m, ok
}

func (s *Server) handleStoredModels(w http.ResponseWriter, r *http.Request) {
	m, ok := s.modelManager(w)
	if !ok {
		return
	}
	list, err := m.StoredModels(r.Context())
	if err != nil {
		writeError(w, asAPIError(err))
		return
	}
	if list == nil {
		list = []StoredModel{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": list})
}

// handlePull streams the pull's progress as NDJSON (one PullProgress per line, at most
// every 100 ms, the last one "success" or "error"). A bad body is a plain 400; a client
// that goes away cancels the pull (the partial download is kept for resume).
func (s *Server) handlePull(w http.ResponseWriter, r *http.Request) {
	m, ok := s.modelManager(w)
	if !ok {
		return
	}
	var req PullRequest
	if !s.decodeRequest(w, r, &req) {
		return
	}
	req.Model = strings.TrimSpace(req.Model)
	if req.Model == "" {
		writeError(w, invalidRequest("'model' is required: a catalogue name, hf://OWNER/REPO/FILE or an http(s) URL"))
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	send := func(p PullProgress) {
		if p.Total > 0 {
			p.Percent = math.Round(1000*float64(p.Completed)/float64(p.Total)) / 10
		}
		if enc.Encode(p) == nil {
			rc.Flush()
		}
	}
	send(PullProgress{Status: "start"})
	var last time.Time
	var lastStatus string
	sm, err := m.PullModel(r.Context(), req, func(p PullProgress) {
		if p.Status == lastStatus && time.Since(last) < 100*time.Millisecond && (p.Total == 0 || p.Completed < p.Total) {
			return
		}
		last, lastStatus = time.Now(), p.Status
		send(p)
	})
	if err != nil {
		e := asAPIError(err)
		send(PullProgress{Status: "error", Error: &ErrorBody{Message: e.Message, Type: e.Type, Code: e.Code}})
		return
	}
	send(PullProgress{Status: "success", Completed: sm.SizeBytes, Total: sm.SizeBytes, Model: &sm})
}

func (s *Server) handleImport(w http.ResponseWriter, r *http.Request) {
	m, ok := s.modelManager(w)
	if !ok {
		return
	}
	var req ImportRequest
	if !s.decodeRequest(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Path) == "" {
		writeError(w, invalidRequest("'path' is required: an I2_S GGUF file on the node's machine"))
		return
	}
	sm, err := m.ImportModel(r.Context(), req)
	if err != nil {
		writeError(w, asAPIError(err))
		return
	}
	writeJSON(w, http.StatusCreated, sm)
}

func (s *Server) handleRemoveModel(w http.ResponseWriter, r *http.Request) {
	m, ok := s.modelManager(w)
	if !ok {
		return
	}
	name := r.PathValue("name")
	if err := m.RemoveModel(r.Context(), name); err != nil {
		writeError(w, asAPIError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": name, "object": "model", "deleted": true})
}
