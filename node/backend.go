package node

import (
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

// NodeID is the libp2p peer ID.
func (n *Node) NodeID() string { return n.id.String() }

// NodeURI is the node's WebSocket peer-protocol address.
func (n *Node) NodeURI() string {
	if n.wsURL != "" {
		return n.wsURL
	}
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

// Energy reports the session's energy accounting in the API's shape, with lifetime
// totals from the ledger.
func (n *Node) Energy() openai.Energy {
	rep, err := n.energy.Report()
	if err != nil {
		n.log.Warn("energy ledger", "err", err)
	}
	return energyToAPI(rep, n.meterNote, n.cfg.EnergyMeter.WattsPerCore)
}

func energyToAPI(rep energy.Report, note string, watts float64) openai.Energy {
	e := openai.Energy{
		SessionUptimeSeconds: rep.Uptime.Seconds(),
		TotalInferences:      rep.Inferences,
		TotalTokensGenerated: rep.Tokens,
		TotalEnergyMJ:        rep.EnergyMJ,
		TotalEnergyKWh:       rep.EnergyMJ / energy.MJPerKWh,
		Savings: openai.EnergySavings{
			VsGPU:        saving(rep.Savings.VsGPU),
			VsCloud:      saving(rep.Savings.VsCloud),
			CO2SavedKg:   rep.Savings.CO2SavedKg,
			CostSavedUSD: rep.Savings.CostSavedUSD,
		},
		Method:    rep.Method,
		MeterNote: note,
		References: &openai.EnergyReferences{
			GPUMJPerToken: rep.References.GPUMJPerToken, CloudMJPerToken: rep.References.CloudMJPerToken,
			CO2KgPerKWh: rep.References.CO2KgPerKWh, CloudUSDPerToken: rep.References.CloudUSDPerToken,
			LocalUSDPerToken: rep.References.LocalUSDPerToken,
		},
		RecentHistory: make([]openai.EnergyRecord, 0, len(rep.Recent)),
	}
	if rep.Method == energy.MethodCPUTime {
		if watts <= 0 {
			watts = energy.DefaultWattsPerCore
		}
		e.References.WattsPerCore = watts
	}
	if rep.Tokens > 0 {
		e.AvgEnergyPerTokenMJ = rep.EnergyMJ / float64(rep.Tokens)
	}
	for _, r := range rep.Recent {
		e.RecentHistory = append(e.RecentHistory, openai.EnergyRecord{
			Timestamp: float64(r.Time.UnixNano()) / 1e9, EnergyMJ: r.EnergyMJ, Tokens: r.Tokens, Model: r.Model,
		})
	}
	if lt := rep.Lifetime; lt != nil {
		tot := lt.Totals()
		l := &openai.EnergyLifetime{
			Since: lt.Since.Format(time.RFC3339), TotalInferences: tot.Inferences, TotalTokensGenerated: tot.Tokens,
			TotalEnergyMJ: tot.EnergyMJ, TotalEnergyKWh: tot.EnergyMJ / energy.MJPerKWh,
			ByMethod: map[string]openai.EnergyMethodTotals{},
		}
		if tot.Tokens > 0 {
			l.AvgEnergyPerTokenMJ = tot.EnergyMJ / float64(tot.Tokens)
		}
		for m, t := range lt.ByMethod {
			l.ByMethod[m] = openai.EnergyMethodTotals{Inferences: t.Inferences, Tokens: t.Tokens, EnergyMJ: t.EnergyMJ}
		}
		e.Lifetime = l
	}
	return e
}

func saving(c energy.Comparison) openai.EnergySaving {
	return openai.EnergySaving{EnergySavedMJ: c.EnergySavedMJ, EnergySavedKWh: c.EnergySavedKWh, ReductionPercent: c.ReductionPercent}
}
