package node

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aria-node/aria/internal/atomicfile"
)

// IdentityFile is the node's libp2p ed25519 key in the data dir.
const IdentityFile = "identity.key"

// LoadIdentity reads the node's key from dataDir, creating it (mode 0600) on first run.
// The node's ID is the libp2p peer ID of this key.
func LoadIdentity(dataDir string) (crypto.PrivKey, peer.ID, error) {
	path := filepath.Join(dataDir, IdentityFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		key, err := crypto.UnmarshalPrivateKey(b)
		if err != nil {
			return nil, "", fmt.Errorf("identity %s is corrupt (%v); move it away to create a new identity", path, err)
		}
		id, err := peer.IDFromPrivateKey(key)
		return key, id, err
	case !os.IsNotExist(err):
		return nil, "", fmt.Errorf("identity: %w", err)
	}
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, "", err
	}
	b, err = crypto.MarshalPrivateKey(key)
	if err != nil {
		return nil, "", err
	}
	if err := atomicfile.WriteFile(path, b, 0o600); err != nil {
		return nil, "", fmt.Errorf("identity: %w", err)
	}
	id, err := peer.IDFromPrivateKey(key)
	return key, id, err
}
