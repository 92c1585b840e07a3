package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aria-node/aria/consent"
	"github.com/aria-node/aria/energy"
	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/openai"
	"github.com/aria-node/aria/p2p"
	"github.com/aria-node/aria/p2p/peerinfer"
	"github.com/aria-node/aria/p2p/peerproto"
)

var (
	_ peerproto.EmbedHandler  = peerHandler{}
	_ openai.EmbeddingBackend = (*Node)(nil)
)

// Embed serves /v1/embeddings: on the local engine when it has the model, else on the
// least-loaded peer that provides it.
func (n *Node) Embed(ctx context.Context, req inference.EmbedRequest) (inference.EmbedResult, error) {
	return n.embedRoute(ctx, req, 0)
}

func (n *Node) embedRoute(ctx context.Context, req inference.EmbedRequest, hops int) (inference.EmbedResult, error) {
	local := n.servesLocally(req.Model)
	if local {
		return n.embedLocal(ctx, req)
	}
	var peers []p2p.PeerRecord
	if n.host != nil && hops < MaxHops {
		peers = n.router.candidates(ctx, req.Model)
	}
	if len(peers) == 0 {
		return inference.EmbedResult{}, fmt.Errorf("%w: %q is not loaded here and no peer provides it", inference.ErrModelNotFound, req.Model)
	}
	var lastErr error
	for _, p := range peers {
		conn, err := n.links.Get(ctx, p.WSURL, p.PeerID)
		if err == nil {
			var res inference.EmbedResult
			if res, err = peerinfer.Embed(ctx, conn, req, hops+1); err == nil {
				return res, nil
			}
			if errors.Is(err, peerproto.ErrConnLost) {
				n.links.Drop(p.WSURL, conn)
			}
		}
		if ctx.Err() != nil {
			return inference.EmbedResult{}, ctx.Err()
		}
		var pe *peerproto.Error
		if errors.As(err, &pe) && pe.Code == "invalid_request" {
			return inference.EmbedResult{}, peerinfer.FromError(err) // the input is bad everywhere
		}
		n.log.Info("peer did not serve the embeddings; trying the next", "peer", p.PeerID, "model", req.Model, "err", err)
		n.router.forgetProviders(req.Model)
		lastErr = err
	}
	return inference.EmbedResult{}, peerinfer.FromError(fmt.Errorf("no peer could serve %q: %w", req.Model, lastErr))
}

// embedLocal embeds on the local engine and meters the energy like a generation.
func (n *Node) embedLocal(ctx context.Context, req inference.EmbedRequest) (inference.EmbedResult, error) {
	start := time.Now()
	x := n.energy.Begin()
	res, err := n.engine.EmbedInputs(ctx, req)
	if err != nil {
		x.End()
		return res, err
	}
	rec := energy.Record{Time: time.Now(), PromptTokens: res.PromptTokens, Model: req.Model,
		DurationMS: float64(time.Since(start).Microseconds()) / 1000}
	if _, err := n.energy.Finish(x, rec); err != nil {
		n.log.Warn("energy accounting", "err", err)
	}
	return res, nil
}

// Embed serves embed_request from the peer protocol, under the consent contract for
// remote work.
func (h peerHandler) Embed(ctx context.Context, r peerproto.EmbedRequest, from peerproto.Origin) (peerproto.EmbedResponse, error) {
	n := h.n
	if n.remoteOrigin(from) {
		first := ""
		if len(r.Input) > 0 {
			first = r.Input[0]
		}
		release, err := n.admitRemote(consent.Classify(first))
		if err != nil {
			return peerproto.EmbedResponse{}, err
		}
		defer release()
	}
	res, err := n.embedRoute(ctx, inference.EmbedRequest{Model: r.ModelID, Texts: r.Input, Tokens: r.Tokens}, r.Hops)
	if err != nil {
		return peerproto.EmbedResponse{}, peerinfer.ToError(err)
	}
	return peerproto.EmbedResponse{ModelID: r.ModelID, Embeddings: res.Vectors, NodeID: n.id.String(),
		Usage: peerproto.Usage{PromptTokens: res.PromptTokens, TotalTokens: res.PromptTokens}}, nil
}
