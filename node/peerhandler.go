package node

import (
	"context"
	"time"

	"github.com/aria-node/aria/consent"
	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/p2p/peerinfer"
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
	req, err := peerinfer.FromRequest(r)
	if err != nil {
		return peerproto.InferenceResponse{}, err
	}
	req.Remote = req.Remote || n.remoteOrigin(from)
	if req.Remote {
		task, err := taskType(*n.cfg.Consent, req.TaskType, lastUser(req.Messages))
		if err != nil {
			return peerproto.InferenceResponse{}, &peerproto.Error{Code: "invalid_request", Message: "task_type: " + err.Error()}
		}
		release, err := n.admitRemote(task)
		if err != nil {
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
			return onChunk(peerinfer.ToChunk(t))
		}
	}
	res, err := n.router.route(ctx, req, r.Hops, onToken)
	if err != nil {
		return peerproto.InferenceResponse{}, peerinfer.ToError(err)
	}
	return peerproto.InferenceResponse{Output: res.Text, ModelID: req.Model, FinishReason: res.FinishReason, NodeID: n.id.String(),
		Usage: peerproto.Usage{PromptTokens: res.PromptTokens, CompletionTokens: res.CompletionTokens, TotalTokens: res.PromptTokens + res.CompletionTokens}}, nil
}

// remoteOrigin reports whether work that arrived over the peer protocol is remote:
// it comes from a peer (a link that proved its peer ID), from another machine, or
// from a client that did not present the owner token.
func (n *Node) remoteOrigin(from peerproto.Origin) bool {
	return from.PeerID != "" || !consent.FromOwner(from.RemoteAddr) || !n.isOwnerToken(from.OwnerToken)
}

// admitRemote admits remote work of type task under the consent contract. A refusal
// comes back as the peer protocol carries it (peerinfer.ToRefusal).
func (n *Node) admitRemote(task consent.TaskType) (release func(), err error) {
	release, err = n.admission.Admit(task)
	if err != nil {
		return nil, peerinfer.ToError(err)
	}
	return release, nil
}

func lastUser(msgs []inference.Message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			return msgs[i].Content
		}
	}
	return ""
}

// NodeStats is the node's get_stats answer (its shape lives with the peer-protocol
// converters, where the stand-alone gateway reads it too).
type NodeStats = peerinfer.Stats

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
