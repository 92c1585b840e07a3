package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aria-node/aria/openai"
	"github.com/aria-node/aria/p2p/peerproto"
)

// busyNode is a networked node whose consent contract takes one remote task, with
// that task held: any further remote work is refused, the owner's is served.
func busyNode(t *testing.T) *Node {
	t.Helper()
	n := startTestNode(t, t.TempDir(), func(c *Config) {
		ct := fullCPU
		ct.MaxConcurrentTasks = 1
		c.Consent = &ct
		c.Peers = PeerConfig{Host: "127.0.0.1", RandomPort: true, ListenP2P: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true}
	})
	turn, err := n.BeginChat(t.Context(), openai.ChatInfo{Model: "aria-tiny-1bit", Remote: true, UserMessages: []string{"hold"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { turn.End(true) })
	return n
}

func isRefusal(err error) bool {
	return err != nil && strings.Contains(err.Error(), "max_concurrent")
}

// Defect 3: a bare WebSocket client on the node's machine used to be the owner. Only
// one that presents the owner token (a 0600 file in the data dir) is.
func TestOnlyTheOwnerTokenMakesAWebSocketClientTheOwner(t *testing.T) {
	n := busyNode(t)
	fi, err := os.Stat(filepath.Join(n.cfg.DataDir, OwnerTokenFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("owner token file: %v %v, want mode 0600", fi, err)
	}
	tok, err := ReadOwnerToken(n.cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	infer := func(opts peerproto.DialOptions, remote bool) error {
		c, err := peerproto.Dial(t.Context(), n.NodeURI(), opts)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = c.Infer(t.Context(), peerproto.InferenceRequest{Query: "hi", ModelID: "aria-tiny-1bit", MaxTokens: 2, Remote: remote}, nil)
		return err
	}
	if err := infer(peerproto.DialOptions{}, false); !isRefusal(err) {
		t.Fatalf("bare loopback client: %v, want a max_concurrent refusal (it is not the owner)", err)
	}
	if err := infer(peerproto.DialOptions{OwnerToken: strings.Repeat("0", len(tok))}, false); !isRefusal(err) {
		t.Fatalf("wrong token: %v, want a refusal", err)
	}
	if err := infer(peerproto.DialOptions{OwnerToken: tok}, false); err != nil {
		t.Fatalf("owner with the token: %v", err)
	}
	if err := infer(peerproto.DialOptions{OwnerToken: tok}, true); !isRefusal(err) {
		t.Fatalf("owner's connection, request marked remote: %v, want a refusal", err)
	}
	// A token file others can read is refused.
	if err := os.Chmod(filepath.Join(n.cfg.DataDir, OwnerTokenFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadOwnerToken(n.cfg.DataDir); err == nil {
		t.Fatal("a world-readable token file was accepted")
	}
}
