package peerproto

import (
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

const nonceSize = 32

// HelloPayload is the byte string a hello signs: a fixed label, the server's
// peer ID from welcome, and the connection's nonce. Binding the server's ID
// (not just the nonce) stops a malicious server from relaying another server's
// nonce to a client and logging in there as that client.
func HelloPayload(serverPeerID string, nonce []byte) []byte {
	p := make([]byte, 0, 32+len(serverPeerID)+len(nonce))
	p = append(p, Protocol+" hello\n"...)
	p = append(p, serverPeerID...)
	p = append(p, '\n')
	return append(p, nonce...)
}

// signHello builds the hello data for key over the server's nonce.
func signHello(key crypto.PrivKey, serverPeerID string, nonce []byte) (Hello, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return Hello{}, fmt.Errorf("hello: peer id: %w", err)
	}
	pub, err := crypto.MarshalPublicKey(key.GetPublic())
	if err != nil {
		return Hello{}, fmt.Errorf("hello: marshal public key: %w", err)
	}
	sig, err := key.Sign(HelloPayload(serverPeerID, nonce))
	if err != nil {
		return Hello{}, fmt.Errorf("hello: sign: %w", err)
	}
	return Hello{
		PeerID:    id.String(),
		Signature: base64.StdEncoding.EncodeToString(sig),
		PublicKey: base64.StdEncoding.EncodeToString(pub),
	}, nil
}

// verifyHello checks that h's public key is peer_id's and that its signature
// covers this connection's payload; it returns the verified peer ID.
func verifyHello(h Hello, serverPeerID string, nonce []byte) (peer.ID, error) {
	id, err := peer.Decode(h.PeerID)
	if err != nil {
		return "", fmt.Errorf("peer_id: %w", err)
	}
	var pub crypto.PubKey
	if h.PublicKey == "" {
		// Identity-hashed IDs (ed25519) embed their key.
		pub, err = id.ExtractPublicKey()
		if err != nil {
			return "", errors.New("public_key required for this peer_id")
		}
	} else {
		raw, err := base64.StdEncoding.DecodeString(h.PublicKey)
		if err != nil {
			return "", fmt.Errorf("public_key: %w", err)
		}
		pub, err = crypto.UnmarshalPublicKey(raw)
		if err != nil {
			return "", fmt.Errorf("public_key: %w", err)
		}
	}
	if !id.MatchesPublicKey(pub) {
		return "", errors.New("public_key does not match peer_id")
	}
	sig, err := base64.StdEncoding.DecodeString(h.Signature)
	if err != nil {
		return "", fmt.Errorf("signature: %w", err)
	}
	ok, err := pub.Verify(HelloPayload(serverPeerID, nonce), sig)
	if err != nil || !ok {
		return "", errors.New("signature does not verify over this connection's nonce")
	}
	return id, nil
}
