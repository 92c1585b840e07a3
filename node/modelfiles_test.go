package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aria-node/aria/inference/synth"
	"github.com/aria-node/aria/models"
	"github.com/aria-node/aria/p2p"
)

// fileNode starts a node on loopback whose store already holds blob under the digest sha.
func fileNode(t testing.TB, sha string, blob []byte, bootstrap ...string) *Node {
	t.Helper()
	dir := t.TempDir()
	s := models.Store{Dir: ModelsDir(dir)}
	os.MkdirAll(filepath.Dir(s.BlobPath(sha)), 0o755)
	if err := os.WriteFile(s.BlobPath(sha), blob, 0o644); err != nil {
		t.Fatal(err)
	}
	return startTestNode(t, dir, func(c *Config) {
		c.Models = []string{NoModel}
		c.Peers = PeerConfig{Host: "127.0.0.1", RandomPort: true, ListenP2P: []string{"/ip4/127.0.0.1/tcp/0"},
			Bootstrap: bootstrap, NoMDNS: true, Publish: 100 * time.Millisecond}
	})
}

// TestPullFromPeers: a node that holds a model file announces it; a pull finds it in
// the DHT and fetches it over a libp2p stream; a peer that sends wrong bytes is dropped
// and, when no honest peer is left, the hub serves the file.
func TestPullFromPeers(t *testing.T) {
	var file bytes.Buffer
	if err := synth.Generate(t.Context(), &file, synth.Options{Shape: synth.Shapes["tiny"], Type: synth.I2_S, Seed: 9}); err != nil {
		t.Fatal(err)
	}
	data := file.Bytes()
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	lie := bytes.Clone(data)
	lie[len(lie)/2] ^= 1

	var hubGets atomic.Int32
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			hubGets.Add(1)
		}
		w.Header().Set("ETag", `"`+sha+`"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(hub.Close)

	honest := fileNode(t, sha, data)
	liar := fileNode(t, sha, lie, honest.host.Addrs()[0])

	client := func(t *testing.T, bootstrap ...string) (*p2p.Host, *models.PeerClient) {
		key, _, _ := crypto.GenerateEd25519Key(nil)
		h, err := p2p.New(t.Context(), p2p.Config{Key: key, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: bootstrap})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h, &models.PeerClient{Host: h.LibP2P(), Find: h.FindContent}
	}
	waitProvidersOf := func(t *testing.T, h *p2p.Host, want int) {
		deadline := time.Now().Add(30 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
			got, _ := h.FindContent(ctx, sha, 8)
			cancel()
			if len(got) >= want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d providers of the file found within 30 s, want %d", len(got), want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	t.Run("from peers", func(t *testing.T) {
		h, pc := client(t, honest.host.Addrs()[0], liar.host.Addrs()[0])
		waitProvidersOf(t, h, 2)
		s := models.Store{Dir: t.TempDir()}
		gets := hubGets.Load()
		m, err := s.Pull(t.Context(), hub.URL+"/m.gguf", models.PullOptions{SHA256: sha, Peers: pc, HTTP: hub.Client()})
		if err != nil {
			t.Fatal(err)
		}
		if m.Via != "peer" || m.Source != "peer "+honest.host.ID().String() || hubGets.Load() != gets {
			t.Fatalf("manifest %+v, %d hub GETs", m, hubGets.Load()-gets)
		}
		if b, _ := os.ReadFile(s.BlobPath(sha)); !bytes.Equal(b, data) {
			t.Fatal("stored bytes differ")
		}
		if !m.Imported {
			t.Fatal("not imported")
		}
	})
	t.Run("only a liar: the hub serves", func(t *testing.T) {
		h, pc := client(t, liar.host.Addrs()[0])
		waitProvidersOf(t, h, 1)
		// Ask only the liar.
		pc.Find = func(ctx context.Context, sha string, limit int) ([]peer.AddrInfo, error) {
			all, err := h.FindContent(ctx, sha, limit)
			var out []peer.AddrInfo
			for _, a := range all {
				if a.ID == liar.host.ID() {
					out = append(out, a)
				}
			}
			if len(out) == 0 {
				return nil, errors.Join(err, fmt.Errorf("liar not found"))
			}
			return out, nil
		}
		s := models.Store{Dir: t.TempDir()}
		gets := hubGets.Load()
		m, err := s.Pull(t.Context(), hub.URL+"/m.gguf", models.PullOptions{SHA256: sha, Peers: pc, HTTP: hub.Client()})
		if err != nil {
			t.Fatal(err)
		}
		if m.Via != "hub" || hubGets.Load() == gets {
			t.Fatalf("manifest %+v", m)
		}
	})
	t.Run("resume from a peer", func(t *testing.T) {
		_, pc := client(t, honest.host.Addrs()[0])
		pc.Find = func(ctx context.Context, _ string, _ int) ([]peer.AddrInfo, error) {
			return []peer.AddrInfo{{ID: honest.host.ID()}}, nil
		}
		path := filepath.Join(t.TempDir(), "part")
		os.WriteFile(path, data[:len(data)/2], 0o644)
		var first int64 = -1
		from, err := pc.Fetch(t.Context(), sha, int64(len(data)), path, func(done, total int64) {
			if first < 0 {
				first = done
			}
		})
		if err != nil || from != honest.host.ID().String() {
			t.Fatalf("%s %v", from, err)
		}
		if b, _ := os.ReadFile(path); !bytes.Equal(b, data) || first <= int64(len(data)/2) {
			t.Fatalf("resumed file differs, or started over (first progress %d)", first)
		}
	})
}

// BenchmarkPullFromPeer reports the throughput of fetching a 256 MiB file from a node
// over the libp2p file protocol on loopback, verified.
func BenchmarkPullFromPeer(b *testing.B) {
	data := make([]byte, 256<<20)
	for i := range data {
		data[i] = byte(i * 7 >> 3)
	}
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	srv := fileNode(b, sha, data)
	key, _, _ := crypto.GenerateEd25519Key(nil)
	h, err := p2p.New(b.Context(), p2p.Config{Key: key, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: []string{srv.host.Addrs()[0]}})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	pc := &models.PeerClient{Host: h.LibP2P(), Find: func(context.Context, string, int) ([]peer.AddrInfo, error) {
		return []peer.AddrInfo{{ID: srv.host.ID()}}, nil
	}}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		path := filepath.Join(b.TempDir(), "part")
		if _, err := pc.Fetch(b.Context(), sha, int64(len(data)), path, nil); err != nil {
			b.Fatal(err)
		}
		os.Remove(path)
	}
}
