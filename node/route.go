package node

import (
	"context"
	"encoding/json"
	"errors"
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
	return n.router.route(ctx, req, 0, onToken)
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
