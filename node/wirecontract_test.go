package node

import (
	"encoding/json"
	"testing"

	"github.com/aria-node/aria/consent"
)

// TestWireContractSameJSON: the status wire struct marshals exactly as consent.Contract, for a contract with
// every field set and for the default one, so the /v1/status shape cannot drift from the contract's.
func TestWireContractSameJSON(t *testing.T) {
	full := consent.Contract{CPUPercent: 40, MaxRAMMB: 2048, MaxBandwidthMbps: 12.5, Schedule: "22:00-06:00",
		Timezone: "Europe/Paris", Days: []string{"mon", "sat"}, TaskTypes: []string{"chat", "code"},
		MaxConcurrentTasks: 3, AllowLogging: true}
	for _, c := range []consent.Contract{full, consent.Default(), {}} {
		want, _ := json.Marshal(c)
		got, _ := json.Marshal(wireContract(c))
		if string(got) != string(want) {
			t.Fatalf("wire contract JSON\n got %s\nwant %s", got, want)
		}
	}
}
