package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aria-node/aria/energy"
	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/p2p"
	"github.com/aria-node/aria/p2p/peerproto"
)

// MaxHops is how many times a request may be forwarded: a node that receives a
// request already forwarded MaxHops times runs it itself or refuses it, so requests
// never loop between peers.
const MaxHops = 2

// Generate serves an OpenAI API request: on the local engine when it has the model and
// room, else through the least-loaded peer that provides the model and accepts work.
func (n *Node) Generate(ctx context.Context, req inference.Request, onToken func(inference.Token) error) (inference.Result, error) {
	return n.route(ctx, req, 0, onToken)
}

// route picks where req runs. hops is how many nodes forwarded it already.
//
// Local first when this node serves the model and has a free slot (or cannot reach
// anyone else). Otherwise peers are tried in order of load; a peer that fails before
// its first token is skipped for the next, one that fails after it ends the request
// with an error (the client already has part of the answer). When every peer fails,
// a node that serves the model queues the request locally.
func (n *Node) route(ctx context.Context, req inference.Request, hops int, onToken func(inference.Token) error) (inference.Result, error) {
	local := n.servesLocally(req.Model)
	if local && (n.hasFreeSlot() || n.host == nil || hops >= MaxHops) {
		return n.generateLocal(ctx, req, onToken)
	}
	var peers []p2p.PeerRecord
	if n.host != nil && hops < MaxHops {
		peers = n.candidates(ctx, req.Model)
	}
	if len(peers) == 0 {
		if local {
			return n.generateLocal(ctx, req, onToken)
		}
		if hops >= MaxHops && n.host != nil {
			return inference.Result{}, &peerproto.Error{Code: "hop_limit", Message: fmt.Sprintf("model %q is not served here and the request was already forwarded %d times", req.Model, hops)}
		}
		if n.servedByPeersRecently(req.Model) {
			return inference.Result{}, fmt.Errorf("%w: model %q is served only by peers, and none of them can be reached now", inference.ErrUnreachable, req.Model)
		}
		return inference.Result{}, fmt.Errorf("%w: %q is not loaded here and no peer provides it", inference.ErrModelNotFound, req.Model)
	}
	var lastErr error
	for _, p := range peers {
		res, err := n.forward(ctx, p, req, hops+1, onToken)
		if err == nil {
			return res, nil
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		var lost *peerproto.ConnLostError
		if errors.As(err, &lost) && lost.AfterFirstToken {
			n.forgetProviders(req.Model)
			return res, fmt.Errorf("peer %s failed mid-answer: %w", shortID(p.PeerID), err)
		}
		n.log.Info("peer did not serve the request; trying the next", "peer", p.PeerID, "model", req.Model, "err", err)
		n.forgetProviders(req.Model)
		lastErr = err
	}
	if local {
		return n.generateLocal(ctx, req, onToken)
	}
	var pe *peerproto.Error
	if !errors.As(lastErr, &pe) {
		// No provider answered at all (dial or connection failures): they are down, not refusing.
		return inference.Result{}, fmt.Errorf("%w: no provider of model %q could be reached: %w", inference.ErrUnreachable, req.Model, lastErr)
	}
	return inference.Result{}, fromPeerError(fmt.Errorf("no peer could serve %q: %w", req.Model, lastErr))
}

// peerModelMemory is how long a model served by a peer is remembered: while its providers are down, a
// request for it is answered "providers unreachable" (503, Retry-After) rather than "model not found".
const peerModelMemory = 10 * time.Minute

// sawPeerModel notes that a peer provides model.
func (n *Node) sawPeerModel(model string) {
	n.provMu.Lock()
	defer n.provMu.Unlock()
	if n.peerModels == nil {
		n.peerModels = map[string]time.Time{}
	}
	now := time.Now()
	n.peerModels[model] = now
	if len(n.peerModels) > 1024 {
		for m, at := range n.peerModels {
			if now.Sub(at) > peerModelMemory {
				delete(n.peerModels, m)
			}
		}
	}
}

// servedByPeersRecently reports whether a peer provided model within peerModelMemory.
func (n *Node) servedByPeersRecently(model string) bool {
	n.provMu.Lock()
	defer n.provMu.Unlock()
	at, ok := n.peerModels[model]
	return ok && time.Since(at) < peerModelMemory
}

// generateLocal runs a request on the local engine, metering the energy it takes.
// Every completed inference is recorded in the session and the ledger.
func (n *Node) generateLocal(ctx context.Context, req inference.Request, onToken func(inference.Token) error) (inference.Result, error) {
	start := time.Now()
	x := n.energy.Begin()
	res, err := n.engine.Generate(ctx, req, onToken)
	if err != nil {
		x.End()
		return res, err
	}
	rec := energy.Record{Time: time.Now(), Tokens: res.CompletionTokens, PromptTokens: res.PromptTokens, Model: req.Model,
		DurationMS: float64(time.Since(start).Microseconds()) / 1000}
	if _, err := n.energy.Finish(x, rec); err != nil {
		n.log.Warn("energy accounting", "err", err)
	}
	return res, nil
}

func (n *Node) servesLocally(model string) bool {
	for _, m := range n.engine.Models() {
		if m.ID == model {
			return true
		}
	}
	return false
}

func (n *Node) hasFreeSlot() bool {
	st := n.engine.Stats()
	return st.ActiveSlots < st.TotalSlots
}

// providerTTL is how long a provider lookup is reused: a DHT walk costs tens to
// hundreds of milliseconds, which a request must not pay every time.
const providerTTL = 5 * time.Second

// missTTL is how long "no provider" is remembered: an unserved model must not re-walk
// the DHT (up to 3 s) on every request. Peer connections and disconnections void the
// cache, so a provider that joins is found at once.
const missTTL = 5 * time.Second

type providerEntry struct {
	recs       []p2p.PeerRecord
	at         time.Time
	refreshing bool
}

// providers returns the providers of model. A cached lookup is answered at once;
// when it is older than providerTTL it is refreshed in the background for the next
// request (stale-while-revalidate), so no request waits on the DHT after the first.
func (n *Node) providers(ctx context.Context, model string) []p2p.PeerRecord {
	n.provMu.Lock()
	e, ok := n.provCache[model]
	refresh := ok && time.Since(e.at) >= providerTTL && !e.refreshing
	if refresh {
		e.refreshing = true
		n.provCache[model] = e
	}
	n.provMu.Unlock()
	if ok && len(e.recs) == 0 && time.Since(e.at) < missTTL {
		return nil
	}
	if ok && len(e.recs) > 0 {
		if refresh {
			n.bg.Add(1)
			go func() {
				defer n.bg.Done()
				n.lookupProviders(n.bgCtx, model)
			}()
		}
		return e.recs
	}
	return n.lookupProviders(ctx, model)
}

// lookupProviders asks the DHT and caches the answer.
func (n *Node) lookupProviders(ctx context.Context, model string) []p2p.PeerRecord {
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	n.provLookups.Add(1)
	recs, err := n.host.FindProviders(lctx, model, 16)
	if err != nil {
		n.log.Debug("provider lookup", "model", model, "err", err)
	}
	n.provMu.Lock()
	if n.provCache == nil {
		n.provCache = map[string]providerEntry{}
	}
	n.provCache[model] = providerEntry{recs: recs, at: time.Now()}
	n.provMu.Unlock()
	return recs
}

// voidProviders drops every cached lookup (a peer connected or left).
func (n *Node) voidProviders() {
	n.provMu.Lock()
	clear(n.provCache)
	n.provMu.Unlock()
}

// forgetProviders drops the cached lookup of model (a provider failed).
func (n *Node) forgetProviders(model string) {
	n.provMu.Lock()
	delete(n.provCache, model)
	n.provMu.Unlock()
}

// candidates are the peers that provide model and accept work, least loaded first.
func (n *Node) candidates(ctx context.Context, model string) []p2p.PeerRecord {
	recs := n.providers(ctx, model)
	self := n.id.String()
	var out []p2p.PeerRecord
	for _, r := range recs {
		if r.PeerID == self || !r.Accepting || r.WSURL == "" || !slices.Contains(r.Models, model) {
			continue
		}
		out = append(out, r)
	}
	if len(out) > 0 {
		n.sawPeerModel(model)
	}
	slices.SortStableFunc(out, func(a, b p2p.PeerRecord) int {
		switch {
		case a.Load < b.Load:
			return -1
		case a.Load > b.Load:
			return 1
		}
		return 0
	})
	return out
}

// forward runs req on peer p over the WebSocket protocol.
func (n *Node) forward(ctx context.Context, p p2p.PeerRecord, req inference.Request, hops int, onToken func(inference.Token) error) (inference.Result, error) {
	conn, err := n.links.Get(ctx, p.WSURL, p.PeerID)
	if err != nil {
		return inference.Result{}, err
	}
	res, err := inferOver(ctx, conn, req, hops, onToken)
	if errors.Is(err, peerproto.ErrConnLost) {
		n.links.Drop(p.WSURL, conn)
	}
	return res, err
}

// inferOver runs an engine request on the node at the other end of conn, streaming its
// text to onToken (when set).
func inferOver(ctx context.Context, conn *peerproto.Conn, req inference.Request, hops int, onToken func(inference.Token) error) (inference.Result, error) {
	var onChunk func(peerproto.Chunk) error
	if onToken != nil {
		onChunk = func(ch peerproto.Chunk) error { return onToken(fromPeerLogprob(ch)) }
	}
	start := time.Now()
	resp, err := conn.InferChunks(ctx, toPeerRequest(req, hops), onChunk)
	if err != nil {
		return inference.Result{}, err
	}
	return inference.Result{Text: resp.Output, FinishReason: resp.FinishReason, PromptTokens: resp.Usage.PromptTokens,
		CompletionTokens: resp.Usage.CompletionTokens, Decode: time.Since(start)}, nil
}

// toPeerRequest carries an engine request to a peer: every sampling field, the task
// type and the remote mark (TestRequestRoundTripCarriesEveryField).
func toPeerRequest(req inference.Request, hops int) peerproto.InferenceRequest {
	out := peerproto.InferenceRequest{ModelID: req.Model, MaxTokens: req.MaxTokens, Stop: req.Stop, Hops: hops, Prompt: req.Prompt,
		TaskType: req.TaskType, Remote: req.Remote}
	if req.Format != nil {
		out.Format, _ = json.Marshal(req.Format)
	}
	out.Logprobs, out.TopLogprobs = req.Logprobs, req.TopLogprobs
	for _, m := range req.Messages {
		out.Messages = append(out.Messages, peerproto.Message{Role: m.Role, Content: m.Content})
	}
	sp := req.Sampling
	f := func(v float32) *float64 { x := float64(v); return &x }
	out.Temperature, out.TopP, out.MinP = f(sp.Temperature), f(sp.TopP), f(sp.MinP)
	out.RepeatPenalty, out.PresencePenalty, out.FrequencyPenalty = f(sp.RepeatPenalty), f(sp.PresencePenalty), f(sp.FrequencyPenalty)
	k, n := sp.TopK, sp.RepeatLastN
	out.TopK, out.RepeatLastN = &k, &n
	if !sp.RandomSeed {
		s := int64(sp.Seed)
		out.Seed = &s
	}
	return out
}

// fromPeerRequest turns a peer-protocol request into an engine request. Absent
// sampling fields take DefaultSampling's values.
func fromPeerRequest(r peerproto.InferenceRequest) (inference.Request, error) {
	req := inference.Request{Model: r.ModelID, MaxTokens: r.MaxTokens, Stop: r.Stop, Sampling: inference.DefaultSampling(),
		TaskType: r.TaskType, Remote: r.Remote}
	if req.Model == "" {
		return req, &peerproto.Error{Code: "invalid_request", Message: "model_id is required"}
	}
	if req.MaxTokens <= 0 {
		req.MaxTokens = 100
	}
	switch {
	case len(r.Messages) > 0:
		for _, m := range r.Messages {
			req.Messages = append(req.Messages, inference.Message{Role: m.Role, Content: m.Content})
		}
	case r.Query != "":
		// The spec's bare client sends a query: it is one user turn of a chat.
		req.Messages = []inference.Message{{Role: "user", Content: r.Query}}
	case r.Prompt != "":
		req.Prompt = r.Prompt
	default:
		return req, &peerproto.Error{Code: "invalid_request", Message: "query, prompt or messages is required"}
	}
	sp := &req.Sampling
	set := func(dst *float32, v *float64) {
		if v != nil {
			*dst = float32(*v)
		}
	}
	set(&sp.Temperature, r.Temperature)
	set(&sp.TopP, r.TopP)
	set(&sp.MinP, r.MinP)
	set(&sp.RepeatPenalty, r.RepeatPenalty)
	set(&sp.PresencePenalty, r.PresencePenalty)
	set(&sp.FrequencyPenalty, r.FrequencyPenalty)
	if r.TopK != nil {
		sp.TopK = *r.TopK
	}
	if r.RepeatLastN != nil {
		sp.RepeatLastN = *r.RepeatLastN
	}
	if r.Seed != nil {
		sp.Seed, sp.RandomSeed = uint64(*r.Seed), false
	}
	req.Logprobs, req.TopLogprobs = r.Logprobs, r.TopLogprobs
	if len(r.Format) > 0 {
		var f inference.Format
		if err := json.Unmarshal(r.Format, &f); err != nil {
			return req, &peerproto.Error{Code: "invalid_request", Message: "format: " + err.Error()}
		}
		if _, err := f.Grammar(); err != nil {
			return req, &peerproto.Error{Code: "invalid_request", Message: err.Error()}
		}
		req.Format = &f
	}
	// The same rules as HTTP: ranges (temperature 1e308 was accepted here and
	// refused there), message count and size limits.
	if err := req.Validate(); err != nil {
		return req, &peerproto.Error{Code: "invalid_request", Message: err.Error()}
	}
	return req, nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[len(id)-8:]
	}
	return id
}
