package p2p

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
)

// Re-dialling of dropped peers: a bootstrap peer, or a peer whose record the host holds, is dialled again
// when its last connection drops, so a restarted peer is routed to within seconds instead of waiting for the
// DHT's next refresh (which took 90–110 s).
const (
	redialFirst = 500 * time.Millisecond // first delay; doubles up to redialMax
	redialMax   = 10 * time.Second
	redialFor   = 10 * time.Minute // a peer that stays away this long is left to the DHT and mDNS
	redialDial  = 5 * time.Second  // bound of one dial
)

// watchLinks registers the notifee that drops a reconnected peer's cached record (its addresses, e.g. its
// WebSocket port, may have changed) and starts re-dialling a known peer that lost its last connection.
func (h *Host) watchLinks(bootstrap []peer.AddrInfo) {
	h.bootstrap = make(map[peer.ID]peer.AddrInfo, len(bootstrap))
	for _, ai := range bootstrap {
		h.bootstrap[ai.ID] = ai
	}
	h.redialing = make(map[peer.ID]bool)
	h.host.Network().Notify(&network.NotifyBundle{
		ConnectedF: func(nw network.Network, c network.Conn) {
			id := c.RemotePeer()
			if len(nw.ConnsToPeer(id)) <= 1 {
				h.mu.Lock()
				delete(h.cache, id)
				h.mu.Unlock()
			}
		},
		DisconnectedF: func(nw network.Network, c network.Conn) {
			id := c.RemotePeer()
			if nw.Connectedness(id) != network.Connected {
				h.startRedial(id)
			}
		},
	})
}

// startRedial starts one re-dial goroutine for id if id is known and none runs; it does not block.
func (h *Host) startRedial(id peer.ID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ai, boot := h.bootstrap[id]
	e := h.cache[id]
	if h.closed || h.redialing[id] || (!boot && !e.found) {
		return
	}
	if !boot {
		ai = peer.AddrInfo{ID: id}
	}
	h.redialing[id] = true
	h.wg.Add(1)
	go h.redial(ai)
}

// redial dials ai with backoff until it is connected, the host closes, or redialFor passes.
func (h *Host) redial(ai peer.AddrInfo) {
	defer h.wg.Done()
	defer func() {
		h.mu.Lock()
		delete(h.redialing, ai.ID)
		h.mu.Unlock()
	}()
	delay := redialFirst
	deadline := time.Now().Add(redialFor)
	for attempt := 1; ; attempt++ {
		t := time.NewTimer(delay)
		select {
		case <-h.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if h.host.Network().Connectedness(ai.ID) == network.Connected {
			return
		}
		// libp2p's own dial backoff would refuse the dial for minutes after the failures of a peer that was down.
		if sw, ok := h.host.Network().(*swarm.Swarm); ok {
			sw.Backoff().Clear(ai.ID)
		}
		ctx, cancel := context.WithTimeout(h.ctx, redialDial)
		err := h.host.Connect(ctx, ai)
		cancel()
		if err == nil {
			h.log.Info("peer reconnected", "peer", ai.ID, "attempts", attempt)
			return
		}
		if h.ctx.Err() != nil || time.Now().After(deadline) {
			h.log.Debug("peer re-dial given up", "peer", ai.ID, "attempts", attempt, "err", err)
			return
		}
		delay = min(2*delay, redialMax)
	}
}
