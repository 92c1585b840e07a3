package node

import (
	"context"
	"errors"
	"time"

	"github.com/aria-node/aria/consent"
	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/openai"
	"github.com/aria-node/aria/p2p/peerproto"
)

// peerHandler serves the WebSocket peer protocol for the node.
type peerHandler struct{ n *Node }

var _ peerproto.Handler = peerHandler{}

// Infer serves a request that arrived over the WebSocket peer protocol. Only a client
// on this machine that presents the owner token (OwnerTokenFile) and does not mark the
// request remote is the owner. Peers (links that proved their peer ID), clients from
// other machines and any other client, a gateway included, are remote work under the
// consent contract.
func (h peerHandler) Infer(ctx context.Context, r peerproto.InferenceRequest, from peerproto.Origin, onText func(string) error) (peerproto.InferenceResponse, error) {
	var onChunk func(peerproto.Chunk) error
	if onText != nil {
		onChunk = func(ch peerproto.Chunk) error { return onText(ch.Text) }
	}
	return h.InferChunks(ctx, r, from, onChunk)
}

var _ peerproto.ChunkHandler = peerHandler{}

// InferChunks is Infer streaming whole chunks: text and, when the request asked for
// logprobs, each token's log-probability.
func (h peerHandler) InferChunks(ctx context.Context, r peerproto.InferenceRequest, from peerproto.Origin, onChunk func(peerproto.Chunk) error) (peerproto.InferenceResponse, error) {
	n := h.n
	req, err := fromPeerRequest(r)
	if err != nil {
		return peerproto.InferenceResponse{}, err
	}
	req.Remote = req.Remote || from.PeerID != "" || !consent.FromOwner(from.RemoteAddr) || !n.isOwnerToken(from.OwnerToken)
	if req.Remote {
		task, err := taskType(*n.cfg.Consent, req.TaskType, lastUser(req.Messages))
		if err != nil {
			return peerproto.InferenceResponse{}, &peerproto.Error{Code: "invalid_request", Message: "task_type: " + err.Error()}
		}
		release, err := n.admission.Admit(task)
		if err != nil {
			var ref *consent.Refusal
			if errors.As(err, &ref) {
				return peerproto.InferenceResponse{}, toPeerRefusal(ref)
			}
			return peerproto.InferenceResponse{}, err
		}
		defer release()
	}
	var onToken func(inference.Token) error
	if onChunk != nil {
		onToken = func(t inference.Token) error {
			if t.Text == "" && t.Logprob == nil {
				return nil
			}
			return onChunk(peerproto.Chunk{Text: t.Text, Token: toPeerLogprob(t)})
		}
	}
	res, err := n.router.route(ctx, req, r.Hops, onToken)
	if err != nil {
		return peerproto.InferenceResponse{}, toPeerError(err)
	}
	return peerproto.InferenceResponse{Output: res.Text, ModelID: req.Model, FinishReason: res.FinishReason, NodeID: n.id.String(),
		Usage: peerproto.Usage{PromptTokens: res.PromptTokens, CompletionTokens: res.CompletionTokens, TotalTokens: res.PromptTokens + res.CompletionTokens}}, nil
}

// toPeerError maps engine and routing errors to protocol error codes.
func toPeerError(err error) error {
	var pe *peerproto.Error
	var inv *inference.InvalidError
	switch {
	case errors.As(err, &pe):
		return err
	case errors.As(err, &inv), errors.Is(err, inference.ErrInvalidRequest), errors.Is(err, inference.ErrContextLength):
		return &peerproto.Error{Code: "invalid_request", Message: err.Error()}
	case errors.Is(err, inference.ErrModelNotFound):
		return &peerproto.Error{Code: "model_not_found", Message: err.Error()}
	case errors.Is(err, inference.ErrBusy):
		return &peerproto.Error{Code: "busy", Message: err.Error()}
	case errors.Is(err, inference.ErrClosed):
		return &peerproto.Error{Code: "shutting_down", Message: err.Error()}
	}
	return &peerproto.Error{Code: "internal", Message: err.Error()}
}

// fromPeerError maps a peer's protocol error back for the OpenAI API.
func fromPeerError(err error) error {
	var pe *peerproto.Error
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case "model_not_found":
		return errors.Join(inference.ErrModelNotFound, err)
	case "busy":
		return errors.Join(inference.ErrBusy, err)
	case "invalid_request":
		return errors.Join(inference.ErrInvalidRequest, err)
	case "refused":
		return fromPeerRefusal(pe)
	}
	return err
}

// toPeerRefusal is a consent refusal as the peer protocol carries it: reason code, message, retry_after and
// opens_at, so the asking node answers its client exactly as a local refusal would (503, Retry-After).
func toPeerRefusal(ref *consent.Refusal) *peerproto.Error {
	pe := &peerproto.Error{Code: "refused", Reason: ref.Code, Message: ref.Message}
	if ref.RetryAfter > 0 {
		pe.RetryAfter = int(min(max((ref.RetryAfter+time.Second-1)/time.Second, 1), 86400))
	}
	if !ref.OpensAt.IsZero() {
		t := ref.OpensAt.UTC()
		pe.OpensAt = &t
	}
	return pe
}

// fromPeerRefusal turns a peer's "refused" error back into the typed refusal toPeerRefusal sent. A peer that
// sends no retry_after (an older node) is taken to mean "retry in a second".
func fromPeerRefusal(pe *peerproto.Error) *consent.Refusal {
	ref := &consent.Refusal{Reason: consent.Reason{Code: pe.Reason, Message: pe.Message}}
	switch {
	case pe.RetryAfter > 0:
		ref.RetryAfter = time.Duration(min(pe.RetryAfter, 86400)) * time.Second
	case pe.Reason != consent.CodeTaskTypeNotAllowed:
		ref.RetryAfter = time.Second
	}
	if pe.OpensAt != nil {
		ref.OpensAt = *pe.OpensAt
	}
	return ref
}

func lastUser(msgs []inference.Message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			return msgs[i].Content
		}
	}
	return ""
}

// NodeStats is the node's get_stats answer: what `aria node status` prints and the
// stand-alone gateway serves.
type NodeStats struct {
	NodeID        string                `json:"node_id"`
	Version       string                `json:"version"`
	UptimeSeconds float64               `json:"uptime_seconds"`
	Models        []inference.ModelInfo `json:"models"`
	Slots         inference.Stats       `json:"slots"`
	Load          float64               `json:"load"`
	Accepting     bool                  `json:"accepting"`
	Consent       openai.ConsentStatus  `json:"consent"`
	Threads       int                   `json:"threads"`
	DutyCycle     float64               `json:"duty_cycle"`
	OwnerThreads  int                   `json:"owner_threads"`
	Peers         int                   `json:"peers"`
	Addrs         []string              `json:"p2p_addrs"`
	Energy        openai.Energy         `json:"energy"`
	Time          time.Time             `json:"time"`
}

// Stats answers get_stats.
func (h peerHandler) Stats(ctx context.Context) any { return h.n.NodeStats(ctx) }

// NodeStats gathers the node's state.
func (n *Node) NodeStats(ctx context.Context) NodeStats {
	rec := n.Record()
	// Anyone may ask for stats over the peer port: no file paths in them.
	models := n.engine.Models()
	for i := range models {
		models[i].Path = ""
	}
	st := NodeStats{NodeID: n.id.String(), Version: Version, UptimeSeconds: n.Uptime().Seconds(), Models: models,
		Slots: n.engine.Stats(), Load: rec.Load, Accepting: rec.Accepting, Consent: n.ConsentStatus(), Energy: n.Energy(), Time: time.Now().UTC()}
	st.Threads, st.DutyCycle = n.KernelSettings()
	st.OwnerThreads = n.OwnerThreads()
	if n.host != nil {
		st.Peers = len(n.host.Peers(ctx))
		st.Addrs = n.host.Addrs()
	}
	return st
}

// PeerEntry is one line of get_peers.
type PeerEntry struct {
	PeerID    string   `json:"peer_id"`
	Addr      string   `json:"addr"`
	WSURL     string   `json:"ws_url,omitempty"`
	Models    []string `json:"models"`
	Load      float64  `json:"load"`
	Accepting bool     `json:"accepting"`
	LatencyMS float64  `json:"latency_ms"`
}

// Peers answers get_peers: the peers this node is connected to.
func (h peerHandler) Peers(ctx context.Context) any {
	n := h.n
	out := []PeerEntry{} // data.peers of peers_list is this array
	if n.host == nil {
		return out
	}
	for _, p := range n.host.Peers(ctx) {
		e := PeerEntry{PeerID: p.ID.String(), Addr: p.Addr, LatencyMS: float64(p.Latency.Microseconds()) / 1000, Models: []string{}}
		if r := p.Record; r != nil {
			e.WSURL, e.Models, e.Load, e.Accepting = r.WSURL, r.Models, r.Load, r.Accepting
		}
		out = append(out, e)
	}
	return out
}

// toPeerLogprob carries a token's logprob to a peer (nil when there is none).
func toPeerLogprob(t inference.Token) *peerproto.TokenLogprob {
	if t.Logprob == nil {
		return nil
	}
	out := &peerproto.TokenLogprob{Bytes: t.Bytes, Logprob: t.Logprob.Logprob}
	for _, a := range t.Logprob.Top {
		out.Top = append(out.Top, peerproto.TopLogprob{Bytes: a.Bytes, Logprob: a.Logprob})
	}
	return out
}

// fromPeerLogprob is toPeerLogprob's inverse (alternatives lose their ids).
func fromPeerLogprob(ch peerproto.Chunk) inference.Token {
	tok := inference.Token{Text: ch.Text}
	if lp := ch.Token; lp != nil {
		tok.Bytes = lp.Bytes
		tok.Logprob = &inference.TokenLogprob{Logprob: lp.Logprob}
		for _, a := range lp.Top {
			tok.Logprob.Top = append(tok.Logprob.Top, inference.TopLogprob{ID: -1, Bytes: a.Bytes, Logprob: a.Logprob})
		}
	}
	return tok
}
