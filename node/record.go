package node

import (
	"math"
	"slices"

	"github.com/aria-node/aria/consent"
)

// Record is what the node tells the network about itself: the peer network signs
// and publishes it, and routers pick peers by it. Seq grows whenever what a router
// acts on changes (models, address, whether it accepts work), so the newest record
// wins. The load is republished when it moves by a quarter of the slots.
type Record struct {
	PeerID    string          `json:"peer_id"`
	WSURL     string          `json:"ws_url"`
	Models    []string        `json:"models"`
	Load      float64         `json:"load"` // (active + queued) / slots: 0 idle, 1 all slots busy, above 1 queueing
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
	if st.TotalSlots > 0 {
		r.Load = float64(st.ActiveSlots+st.Queued) / float64(st.TotalSlots)
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
		loadStep(last.Load) != loadStep(r.Load) ||
		(last.Reason == nil) != (r.Reason == nil) || (last.Reason != nil && last.Reason.Code != r.Reason.Code) {
		r.Seq = last.Seq + 1
	} else {
		r.Seq = last.Seq
	}
	n.rec = r
	return r
}

// loadStep is the load in quarters of the slots: a record is republished when it
// moves a step, so routers see busy nodes without a publish per request.
func loadStep(l float64) int { return int(math.Round(l * 4)) }
