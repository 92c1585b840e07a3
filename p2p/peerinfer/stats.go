package peerinfer

import (
	"time"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/openai"
)

// Stats is a node's get_stats answer: what `aria node status` prints and the
// stand-alone gateway serves as its /v1/status, /v1/models and /health. Consent and
// Energy are the API's own wire structs, so the gateway passes them on unchanged.
type Stats struct {
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
