package node

import (
	"context"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/aria-node/aria/energy"
	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/openai"
)

// The node is the API's backend: it routes generations and accounts for them.
var (
	_ openai.Backend      = (*Node)(nil)
	_ openai.NodeInfo     = (*Node)(nil)
	_ openai.EnergySource = (*Node)(nil)
)

// Models lists the models this node serves.
func (n *Node) Models() []inference.ModelInfo { return n.engine.Models() }

// Stats reports slot and queue occupancy.
func (n *Node) Stats() inference.Stats { return n.engine.Stats() }

// Generate runs a request on the local engine and records it in the energy session.
func (n *Node) Generate(ctx context.Context, req inference.Request, onToken func(inference.Token) error) (inference.Result, error) {
	res, err := n.engine.Generate(ctx, req, onToken)
	if err == nil {
		n.energy.Add(energy.Record{Time: time.Now(), Tokens: res.CompletionTokens, Model: req.Model})
	}
	return res, err
}

// NodeID is the libp2p peer ID.
func (n *Node) NodeID() string { return n.id.String() }

// NodeURI is the node's WebSocket peer-protocol address.
func (n *Node) NodeURI() string {
	host := n.cfg.Host
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "ws://" + net.JoinHostPort(host, strconv.Itoa(n.cfg.Port))
}

// Running reports whether the node is up (between Start and Shutdown).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.running
}

// KernelPath is the executable that contains the native kernel, when it serves a model.
func (n *Node) KernelPath() string {
	if len(n.engine.Models()) == 0 {
		return ""
	}
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	return exe
}

// Energy reports the session's energy accounting in the API's shape.
func (n *Node) Energy() openai.Energy {
	s := n.energy.Snapshot()
	e := openai.Energy{
		SessionUptimeSeconds: s.Uptime.Seconds(),
		TotalInferences:      s.Inferences,
		TotalTokensGenerated: s.Tokens,
		TotalEnergyMJ:        s.EnergyMJ,
		TotalEnergyKWh:       s.EnergyMJ / 3.6e9,
		Method:               s.Method,
		RecentHistory:        make([]openai.EnergyRecord, 0, len(s.Recent)),
	}
	if s.Tokens > 0 {
		e.AvgEnergyPerTokenMJ = s.EnergyMJ / float64(s.Tokens)
	}
	for _, r := range s.Recent {
		e.RecentHistory = append(e.RecentHistory, openai.EnergyRecord{
			Timestamp: float64(r.Time.UnixNano()) / 1e9, EnergyMJ: r.EnergyMJ, Tokens: r.Tokens, Model: r.Model,
		})
	}
	return e
}
