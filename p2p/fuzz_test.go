package p2p

import (
	"bytes"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// FuzzOpenRecord feeds arbitrary bytes (as a DHT peer would) to OpenRecord and the validator: they must never
// panic, and whatever opens must also validate under its signer's key and survive a reseal.
func FuzzOpenRecord(f *testing.F) {
	key := newKey(f)
	r := sampleRecord(1)
	r.Expires = time.Now().Add(24 * 365 * time.Hour)
	good := seal(f, key, r)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(bytes.Replace(good, []byte("m1"), []byte("m3"), 1))
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x24, 0x08, 0x01, 0x12, 0x20})
	f.Add([]byte(`{"peer_id":"x"}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := OpenRecord(data)
		if err != nil {
			return
		}
		id, err := peerIDFromString(rec.PeerID)
		if err != nil {
			t.Fatalf("opened a record with a bad peer ID %q: %v", rec.PeerID, err)
		}
		if err := (RecordValidator{}).Validate(PeerRecordKey(id), data); err != nil {
			t.Fatalf("opens but does not validate under its own key: %v", err)
		}
		if _, err := (RecordValidator{}).Select(PeerRecordKey(id), [][]byte{data, data}); err != nil {
			t.Fatalf("select: %v", err)
		}
	})
}

func peerIDFromString(s string) (peer.ID, error) { return peer.Decode(s) }
