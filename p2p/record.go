package p2p

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	mh "github.com/multiformats/go-multihash"
)

// PeerRecord is what a node tells the network about itself. It travels signed (see SealRecord) and is stored
// in the DHT under PeerRecordKey(peer ID).
type PeerRecord struct {
	PeerID    string    `json:"peer_id"`
	WSURL     string    `json:"ws_url"` // ws://host:port of its WebSocket peer protocol
	Models    []string  `json:"models"`
	Load      float64   `json:"load"`             // (active + queued) / slots: 0 idle, 1 all busy, >1 queueing
	Accepting bool      `json:"accepting"`        // its consent contract accepts work now
	Reason    string    `json:"reason,omitempty"` // why it does not accept work
	Version   string    `json:"version"`
	Seq       uint64    `json:"seq"`
	Addrs     []string  `json:"addrs,omitempty"` // its libp2p multiaddrs
	Expires   time.Time `json:"expires"`         // signer's expiry: validators reject expired records
}

// Serves reports whether the record lists model.
func (r PeerRecord) Serves(model string) bool { return slices.Contains(r.Models, model) }

const (
	// RecordDomain separates signatures over aria peer records from every other libp2p signed envelope.
	RecordDomain = "aria-peer-record"
	// RecordNamespace is the DHT key namespace of peer records; its validator is RecordValidator.
	RecordNamespace = "aria-peer"
	// MaxRecordSize caps a sealed record; larger blobs are rejected before any parsing.
	MaxRecordSize = 64 << 10
)

// recordCodec is the envelope payload type of aria peer records. It is not a registered multicodec: the
// signature domain already scopes it, and a readable tag makes stray envelopes easy to recognise.
var recordCodec = []byte("/aria/peer-record/1")

var (
	// ErrRecordInvalid wraps every reason a sealed record is rejected.
	ErrRecordInvalid = errors.New("invalid peer record")
	// ErrRecordExpired is returned (wrapped in ErrRecordInvalid) for a record past its Expires.
	ErrRecordExpired = errors.New("peer record expired")
	// ErrRecordSigner is returned (wrapped in ErrRecordInvalid) when a record's peer ID is not its signer's,
	// or when it is stored under another peer's key.
	ErrRecordSigner = errors.New("peer record signer mismatch")
)

// recordPayload adapts PeerRecord to libp2p's record.Record so it can travel in a signed envelope.
type recordPayload struct{ PeerRecord }

func init() { record.RegisterType(&recordPayload{}) }

func (*recordPayload) Domain() string                   { return RecordDomain }
func (*recordPayload) Codec() []byte                    { return recordCodec }
func (p *recordPayload) MarshalRecord() ([]byte, error) { return json.Marshal(p.PeerRecord) }
func (p *recordPayload) UnmarshalRecord(data []byte) error {
	return json.Unmarshal(data, &p.PeerRecord)
}

// SealRecord signs r with key and returns the marshalled envelope. It sets r.PeerID from key; r.Expires must
// be set, because OpenRecord rejects records without an expiry.
func SealRecord(key crypto.PrivKey, r PeerRecord) ([]byte, error) {
	if key == nil {
		return nil, errors.New("seal peer record: no key")
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("seal peer record: %w", err)
	}
	if r.Expires.IsZero() {
		return nil, errors.New("seal peer record: no expiry")
	}
	r.PeerID = id.String()
	env, err := record.Seal(&recordPayload{r}, key)
	if err != nil {
		return nil, fmt.Errorf("seal peer record: %w", err)
	}
	data, err := env.Marshal()
	if err != nil {
		return nil, fmt.Errorf("seal peer record: %w", err)
	}
	if len(data) > MaxRecordSize {
		return nil, fmt.Errorf("seal peer record: %d bytes, limit %d", len(data), MaxRecordSize)
	}
	return data, nil
}

// OpenRecord verifies a sealed record and returns it: the envelope signature must hold for the aria domain,
// the payload must be an aria peer record whose PeerID is the signing key's peer ID, and it must not have
// expired. Every error wraps ErrRecordInvalid.
func OpenRecord(data []byte) (PeerRecord, error) {
	return openRecordAt(data, time.Now())
}

func openRecordAt(data []byte, now time.Time) (PeerRecord, error) {
	invalid := func(err error) (PeerRecord, error) {
		return PeerRecord{}, fmt.Errorf("%w: %w", ErrRecordInvalid, err)
	}
	if len(data) > MaxRecordSize {
		return invalid(fmt.Errorf("%d bytes, limit %d", len(data), MaxRecordSize))
	}
	env, rec, err := record.ConsumeEnvelope(data, RecordDomain)
	if err != nil {
		return invalid(err)
	}
	// ConsumeEnvelope picks the payload type from the registry, so a validly signed envelope of another
	// registered type (a libp2p routing record, say) lands here with a different Go type.
	p, ok := rec.(*recordPayload)
	if !ok || !bytes.Equal(env.PayloadType, recordCodec) {
		return invalid(fmt.Errorf("payload type %q", env.PayloadType))
	}
	signer, err := peer.IDFromPublicKey(env.PublicKey)
	if err != nil {
		return invalid(err)
	}
	r := p.PeerRecord
	if r.PeerID != signer.String() {
		return invalid(fmt.Errorf("%w: record names %q, signed by %s", ErrRecordSigner, r.PeerID, signer))
	}
	if r.Expires.IsZero() {
		return invalid(errors.New("no expiry"))
	}
	if !now.Before(r.Expires) {
		return invalid(fmt.Errorf("%w at %s", ErrRecordExpired, r.Expires.UTC().Format(time.RFC3339)))
	}
	return r, nil
}

// PeerRecordKey is the DHT key of id's peer record: "/aria-peer/" followed by the raw peer ID bytes.
func PeerRecordKey(id peer.ID) string { return "/" + RecordNamespace + "/" + string(id) }

// RecordValidator validates the "aria-peer" DHT namespace: a value must open (OpenRecord) and be signed by
// the peer its key names; among valid values the highest Seq wins, the first on ties.
type RecordValidator struct{}

// Validate implements record.Validator.
func (RecordValidator) Validate(key string, value []byte) error {
	_, err := validateRecord(key, value)
	return err
}

func validateRecord(key string, value []byte) (PeerRecord, error) {
	id, err := keyPeer(key)
	if err != nil {
		return PeerRecord{}, err
	}
	r, err := OpenRecord(value)
	if err != nil {
		return PeerRecord{}, err
	}
	if r.PeerID != id.String() {
		return PeerRecord{}, fmt.Errorf("%w: %w: record of %s stored under key of %s", ErrRecordInvalid, ErrRecordSigner, r.PeerID, id)
	}
	return r, nil
}

// Select implements record.Validator.
func (RecordValidator) Select(key string, values [][]byte) (int, error) {
	best, bestSeq := -1, uint64(0)
	for i, v := range values {
		r, err := validateRecord(key, v)
		if err != nil {
			continue
		}
		if best < 0 || r.Seq > bestSeq {
			best, bestSeq = i, r.Seq
		}
	}
	if best < 0 {
		return 0, fmt.Errorf("%w: none of %d values is valid", ErrRecordInvalid, len(values))
	}
	return best, nil
}

func keyPeer(key string) (peer.ID, error) {
	rest, ok := strings.CutPrefix(key, "/"+RecordNamespace+"/")
	if !ok {
		return "", fmt.Errorf("%w: key is not in namespace %s", ErrRecordInvalid, RecordNamespace)
	}
	id, err := peer.IDFromBytes([]byte(rest))
	if err != nil {
		return "", fmt.Errorf("%w: key: %w", ErrRecordInvalid, err)
	}
	return id, nil
}

// ModelCID is the content ID under which nodes provide a model: CIDv1, raw codec, sha2-256 of the model name.
// Names are hashed as given, so every node must use the same canonical name for a model.
func ModelCID(model string) cid.Cid {
	sum, err := mh.Sum([]byte(model), mh.SHA2_256, -1)
	if err != nil {
		// sha2-256 is always registered; Sum fails only for unknown codes or bad lengths.
		panic(fmt.Sprintf("p2p: sha2-256 multihash: %v", err))
	}
	return cid.NewCidV1(cid.Raw, sum)
}
