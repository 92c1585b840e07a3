package node

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aria-node/aria/internal/atomicfile"
)

// OwnerTokenFile holds the node's owner token in its data dir (0600). A WebSocket
// client on the node's machine that presents it (peerproto.HeaderOwnerToken) is the
// owner; every other WebSocket client is remote work under the consent contract.
// `aria api start --owner` reads it so a gateway can act for the owner.
const OwnerTokenFile = "owner.token"

// loadOwnerToken reads the data dir's owner token, creating it (0600) when missing.
func loadOwnerToken(dataDir string) (string, error) {
	path := filepath.Join(dataDir, OwnerTokenFile)
	if tok, err := ReadOwnerToken(dataDir); err == nil {
		return tok, nil
	} else if !os.IsNotExist(err) {
		return "", err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(b)
	if err := atomicfile.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("owner token: %w", err)
	}
	return tok, nil
}

// ReadOwnerToken reads the owner token of the node whose data dir is dataDir. It
// refuses a token file that others can read.
func ReadOwnerToken(dataDir string) (string, error) {
	path := filepath.Join(dataDir, OwnerTokenFile)
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("owner token %s is readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 32 {
		return "", fmt.Errorf("owner token %s is malformed; delete it and restart the node", path)
	}
	return tok, nil
}

// isOwnerToken compares a presented token with the node's in constant time.
func (n *Node) isOwnerToken(presented string) bool {
	if n.ownerToken == "" || presented == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(presented), []byte(n.ownerToken)) == 1
}
