package p2p

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	ma "github.com/multiformats/go-multiaddr"
	mh "github.com/multiformats/go-multihash"
)

func sampleRecord(seq uint64) PeerRecord {
	return PeerRecord{
		WSURL:     "ws://127.0.0.1:8765",
		Models:    []string{"m1", "m2"},
		Load:      0.25,
		Accepting: true,
		Version:   "0.1.0",
		Seq:       seq,
		Addrs:     []string{"/ip4/127.0.0.1/tcp/4001"},
		Expires:   time.Now().Add(time.Hour).UTC().Truncate(time.Second),
	}
}

func seal(t testing.TB, key crypto.PrivKey, r PeerRecord) []byte {
	t.Helper()
	data, err := SealRecord(key, r)
	if err != nil {
		t.Fatalf("seal: %v", err)
	}
	return data
}

func peerID(t testing.TB, key crypto.PrivKey) peer.ID {
	t.Helper()
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestSealOpenRoundTrip(t *testing.T) {
	key := newKey(t)
	in := sampleRecord(3)
	in.PeerID = "ignored: SealRecord sets it from the key"
	out, err := OpenRecord(seal(t, key, in))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	in.PeerID = peerID(t, key).String()
	if out.PeerID != in.PeerID || out.WSURL != in.WSURL || !slices.Equal(out.Models, in.Models) ||
		out.Load != in.Load || out.Accepting != in.Accepting || out.Version != in.Version ||
		out.Seq != in.Seq || !slices.Equal(out.Addrs, in.Addrs) || !out.Expires.Equal(in.Expires) {
		t.Fatalf("round trip changed the record:\n in  %+v\n out %+v", in, out)
	}
	if err := (RecordValidator{}).Validate(PeerRecordKey(peerID(t, key)), seal(t, key, in)); err != nil {
		t.Fatalf("validator rejects a good record: %v", err)
	}
}

func TestSealRequiresExpiry(t *testing.T) {
	r := sampleRecord(1)
	r.Expires = time.Time{}
	if _, err := SealRecord(newKey(t), r); err == nil {
		t.Fatal("sealed a record without expiry")
	}
	if _, err := SealRecord(nil, sampleRecord(1)); err == nil {
		t.Fatal("sealed without a key")
	}
}

func TestOpenRecordRejects(t *testing.T) {
	keyA, keyB := newKey(t), newKey(t)
	good := seal(t, keyA, sampleRecord(1))

	tamperedPayload := bytes.Replace(good, []byte(`"load":0.25`), []byte(`"load":0.01`), 1)
	if bytes.Equal(tamperedPayload, good) {
		t.Fatal("test bug: payload not found in the envelope")
	}
	tamperedSig := slices.Clone(good)
	tamperedSig[len(tamperedSig)-1] ^= 0x01 // the signature is the envelope's last field

	// A record naming A but signed by B: built by hand, since SealRecord always names the signer.
	impostor := sampleRecord(1)
	impostor.PeerID = peerID(t, keyA).String()
	env, err := record.Seal(&recordPayload{impostor}, keyB)
	if err != nil {
		t.Fatal(err)
	}
	impostorData, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}

	expired := sampleRecord(1)
	expired.Expires = time.Now().Add(-time.Second)
	expiredData, err := record.Seal(&recordPayload{withPeerID(expired, peerID(t, keyA))}, keyA)
	if err != nil {
		t.Fatal(err)
	}
	expiredBytes, _ := expiredData.Marshal()

	// A validly signed envelope of another registered type: libp2p's own routing record.
	rr := peer.PeerRecordFromAddrInfo(peer.AddrInfo{ID: peerID(t, keyA), Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/1")}})
	otherEnv, err := record.Seal(rr, keyA)
	if err != nil {
		t.Fatal(err)
	}
	otherBytes, _ := otherEnv.Marshal()

	cases := []struct {
		name string
		data []byte
		want error // besides ErrRecordInvalid
	}{
		{"tampered payload", tamperedPayload, nil},
		{"tampered signature", tamperedSig, nil},
		{"signed by another key", impostorData, ErrRecordSigner},
		{"expired", expiredBytes, ErrRecordExpired},
		{"libp2p routing record", otherBytes, nil},
		{"garbage", []byte("definitely not an envelope"), nil},
		{"empty", nil, nil},
		{"truncated", good[:len(good)/2], nil},
		{"oversized", append(slices.Clone(good), make([]byte, MaxRecordSize)...), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := OpenRecord(c.data)
			if !errors.Is(err, ErrRecordInvalid) {
				t.Fatalf("OpenRecord = %v, want ErrRecordInvalid", err)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("OpenRecord = %v, want %v", err, c.want)
			}
			if err := (RecordValidator{}).Validate(PeerRecordKey(peerID(t, keyA)), c.data); err == nil {
				t.Fatal("validator accepted it")
			}
		})
	}

	// A record expires in the eyes of every validator once its time passes.
	if _, err := openRecordAt(good, time.Now().Add(2*time.Hour)); !errors.Is(err, ErrRecordExpired) {
		t.Fatalf("record past its expiry: %v", err)
	}
}

func withPeerID(r PeerRecord, id peer.ID) PeerRecord {
	r.PeerID = id.String()
	return r
}

func TestValidatorKeyMustNameSigner(t *testing.T) {
	keyA, keyB := newKey(t), newKey(t)
	byB := seal(t, keyB, sampleRecord(1))
	v := RecordValidator{}
	if err := v.Validate(PeerRecordKey(peerID(t, keyB)), byB); err != nil {
		t.Fatalf("B's record under B's key: %v", err)
	}
	if err := v.Validate(PeerRecordKey(peerID(t, keyA)), byB); !errors.Is(err, ErrRecordSigner) {
		t.Fatalf("B's record under A's key: %v, want ErrRecordSigner", err)
	}
	for _, key := range []string{"", "/aria-peer/", "/aria-peer/not-a-peer-id", "/pk/" + string(peerID(t, keyB)), "aria-peer/" + string(peerID(t, keyB))} {
		if err := v.Validate(key, byB); err == nil {
			t.Errorf("key %q accepted", key)
		}
	}
}

func TestValidatorSelect(t *testing.T) {
	key := newKey(t)
	k := PeerRecordKey(peerID(t, key))
	s1, s3, s5 := seal(t, key, sampleRecord(1)), seal(t, key, sampleRecord(3)), seal(t, key, sampleRecord(5))
	other := sampleRecord(5)
	other.WSURL = "ws://10.0.0.1:8765"
	s5b := seal(t, key, other)
	v := RecordValidator{}
	cases := []struct {
		name   string
		values [][]byte
		want   int
	}{
		{"highest seq wins", [][]byte{s1, s5, s3}, 1},
		{"lower seq loses to the incumbent", [][]byte{s3, s5}, 1},
		{"tie: first", [][]byte{s5b, s5}, 0},
		{"tie: first, other order", [][]byte{s5, s5b}, 0},
		{"invalid values are skipped", [][]byte{[]byte("junk"), s1, seal(t, newKey(t), sampleRecord(9))}, 1},
		{"single", [][]byte{s3}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := v.Select(k, c.values)
			if err != nil || got != c.want {
				t.Fatalf("Select = %d, %v; want %d", got, err, c.want)
			}
		})
	}
	if _, err := v.Select(k, [][]byte{[]byte("junk")}); err == nil {
		t.Fatal("Select with no valid value succeeded")
	}
	if _, err := v.Select(k, nil); err == nil {
		t.Fatal("Select with no values succeeded")
	}
}

func TestModelCID(t *testing.T) {
	c := ModelCID("bitnet-b1.58-2b")
	if c.Version() != 1 || c.Type() != cid.Raw {
		t.Fatalf("cid %s: version %d codec %x", c, c.Version(), c.Type())
	}
	dec, err := mh.Decode(c.Hash())
	if err != nil || dec.Code != mh.SHA2_256 {
		t.Fatalf("multihash %v: %v", dec, err)
	}
	if !c.Equals(ModelCID("bitnet-b1.58-2b")) {
		t.Fatal("ModelCID is not stable")
	}
	if c.Equals(ModelCID("bitnet-b1.58-2B")) {
		t.Fatal("distinct names share a CID")
	}
	// Pinned so that nodes of every version agree on the key (sha2-256 of "m1", CIDv1 raw, base32).
	if got, want := ModelCID("m1").String(), "bafkreigkbxzmswvbita5b7zp6pepsz75yhpj54geciftojsbm4a3kgowde"; got != want {
		t.Fatalf("ModelCID(m1) = %s, want %s", got, want)
	}
	if !strings.HasPrefix(PeerRecordKey(peerID(t, newKey(t))), "/aria-peer/") {
		t.Fatal("record key namespace")
	}
}
