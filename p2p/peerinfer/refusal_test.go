package peerinfer

import (
	"encoding/json"
	"errors"
	"fmt"
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
		b, err := json.Marshal(ToRefusal(local))
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
		if !errors.As(FromError(&pe), &remote) {
			t.Fatalf("FromError(%s) is not a *consent.Refusal", b)
		}
		if remote.Code != local.Code || remote.Message != local.Message || remote.RetryAfter != local.RetryAfter || !remote.OpensAt.Equal(local.OpensAt) {
			t.Fatalf("refusal changed crossing the wire:\nlocal  %+v\nremote %+v", local, remote)
		}
	}
}

// A refusal that comes back from a further hop (wrapped by the router's "no peer
// could serve") is sent on as a refusal, not as an internal error: the first node
// answers 503 with the same Retry-After, not 500.
func TestForwardedRefusalStaysARefusal(t *testing.T) {
	hop2 := ToRefusal(&consent.Refusal{Reason: consent.Reason{Code: "max_concurrent_reached", Message: "busy"}, RetryAfter: 5 * time.Second})
	routed := FromError(fmt.Errorf("no peer could serve %q: %w", "m", hop2)) // what the middle node's router returns
	var pe *peerproto.Error
	if !errors.As(ToError(routed), &pe) || pe.Code != "refused" || pe.Reason != "max_concurrent_reached" || pe.RetryAfter != 5 {
		t.Fatalf("ToError(%v) = %+v, want the refusal with retry_after 5", routed, pe)
	}
}
