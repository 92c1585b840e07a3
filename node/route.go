package node

import (
	"context"
	"errors"
	"time"

	"github.com/aria-node/aria/energy"
	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/p2p"
	"github.com/aria-node/aria/p2p/peerinfer"
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
	res, err := peerinfer.Infer(ctx, conn, req, hops, onToken)
	if errors.Is(err, peerproto.ErrConnLost) {
		n.links.Drop(p.WSURL, conn)
	}
	return res, err
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[len(id)-8:]
	}
	return id
}
