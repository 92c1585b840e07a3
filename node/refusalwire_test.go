package node

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/aria-node/aria/consent"
	"github.com/aria-node/aria/p2p/peerproto"
)

// TestRefusalCrossesTheWire: a consent refusal sent as a peer-protocol error and read back on the asking node is
// the same typed refusal (code, message, retry-after, opens-at), so both answer HTTP 503 with the same Retry-After.
func TestRefusalCrossesTheWire(t *testing.T) {
	c := consent.Default()
	c.Schedule = "09:00-17:00"
	c.TaskTypes = []string{"chat"}
	now := time.Date(2026, 3, 2, 20, 0, 0, 0, time.UTC) // closed until 09:00 tomorrow
	adm := consent.NewAdmission(c, func() time.Time { return now })
	for _, task := range []consent.TaskType{consent.TaskType("chat")} {
		_, err := adm.Admit(task)
		var local *consent.Refusal
		if !errors.As(err, &local) || local.RetryAfter != 13*time.Hour || local.OpensAt.IsZero() {
			t.Fatalf("local refusal %+v (%v)", local, err)
		}
		b, err := json.Marshal(toPeerRefusal(local))
		if err != nil {
			t.Fatal(err)
		}
		var pe peerproto.Error
		if err := json.Unmarshal(b, &pe); err != nil {
			t.Fatal(err)
		}
		if pe.RetryAfter != 46800 || pe.OpensAt == nil {
			t.Fatalf("wire %s lacks retry_after/opens_at", b)
		}
		var remote *consent.Refusal
		if !errors.As(fromPeerError(&pe), &remote) {
			t.Fatalf("fromPeerError(%s) is not a *consent.Refusal", b)
		}
		if remote.Code != local.Code || remote.Message != local.Message || remote.RetryAfter != local.RetryAfter || !remote.OpensAt.Equal(local.OpensAt) {
			t.Fatalf("refusal changed crossing the wire:\nlocal  %+v\nremote %+v", local, remote)
		}
	}
}

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
