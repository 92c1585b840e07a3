package node

import (
	"slices"

	"github.com/aria-node/aria/consent"
)

// Record is what the node tells the network about itself: the peer network signs
// and publishes it, and routers pick peers by it. Seq grows whenever what a router
// acts on changes (models, address, whether it accepts work), so the newest record
// wins.
type Record struct {
	PeerID    string          `json:"peer_id"`
	WSURL     string          `json:"ws_url"`
	Models    []string        `json:"models"`
	Load      float64         `json:"load"` // busy share of slots and queue, 0..1
	Accepting bool            `json:"accepting"`
	Reason    *consent.Reason `json:"reason,omitempty"` // why not accepting
	Version   string          `json:"version"`
	Seq       uint64          `json:"seq"`
}

// Record returns the node's current record.
func (n *Node) Record() Record {
	r := Record{PeerID: n.id.String(), WSURL: n.NodeURI(), Version: Version}
	for _, m := range n.engine.Models() {
		r.Models = append(r.Models, m.ID)
	}
	slices.Sort(r.Models)
	st := n.engine.Stats()
	if capacity := st.TotalSlots + st.QueueSize; capacity > 0 {
		r.Load = float64(st.ActiveSlots+st.Queued) / float64(capacity)
	}
	ok, why := n.admission.Accepting()
	r.Accepting = ok
	if !ok {
		r.Reason = &why
	}

	n.recMu.Lock()
	defer n.recMu.Unlock()
	last := n.rec
	if last.Seq == 0 || last.Accepting != r.Accepting || last.WSURL != r.WSURL || !slices.Equal(last.Models, r.Models) ||
		(last.Reason == nil) != (r.Reason == nil) || (last.Reason != nil && last.Reason.Code != r.Reason.Code) {
		r.Seq = last.Seq + 1
	} else {
		r.Seq = last.Seq
	}
	n.rec = r
	return r
}

// recordChanged brings the record up to date after an event that may change it.
func (n *Node) recordChanged() { n.Record() }
