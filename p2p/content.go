package p2p

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// ContentCID is the CID under which nodes announce a file they can serve: CIDv1, raw
// codec, whose multihash is the file's sha256 (hex).
func ContentCID(sha256hex string) (cid.Cid, error) {
	d, err := hex.DecodeString(sha256hex)
	if err != nil || len(d) != 32 {
		return cid.Undef, fmt.Errorf("p2p: %q is not a sha256 digest", sha256hex)
	}
	m, err := mh.Encode(d, mh.SHA2_256)
	if err != nil {
		return cid.Undef, err
	}
	return cid.NewCidV1(cid.Raw, m), nil
}

// ProvideContent announces in the DHT that this node serves the file with the digest.
func (h *Host) ProvideContent(ctx context.Context, sha256hex string) error {
	c, err := ContentCID(sha256hex)
	if err != nil {
		return err
	}
	return h.dht.Provide(ctx, c, true)
}

// FindContent returns up to limit other peers that announced the file with the digest.
func (h *Host) FindContent(ctx context.Context, sha256hex string, limit int) ([]peer.AddrInfo, error) {
	c, err := ContentCID(sha256hex)
	if err != nil {
		return nil, err
	}
	var out []peer.AddrInfo
	for ai := range h.dht.FindProvidersAsync(ctx, c, limit+1) {
		if ai.ID == h.host.ID() {
			continue
		}
		out = append(out, ai)
		if len(out) >= limit {
			break
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	return nil, ctx.Err()
}

// LibP2P returns the underlying libp2p host, for protocols owned by other packages
// (the model file transfer of package models).
func (h *Host) LibP2P() host.Host { return h.host }
