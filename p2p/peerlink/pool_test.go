package peerlink

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aria-node/aria/p2p/peerproto"
)

type nopHandler struct{}

func (nopHandler) Infer(ctx context.Context, r peerproto.InferenceRequest, from peerproto.Origin, onText func(string) error) (peerproto.InferenceResponse, error) {
	return peerproto.InferenceResponse{Output: "ok"}, nil
}
func (nopHandler) Stats(ctx context.Context) any { return map[string]any{} }
func (nopHandler) Peers(ctx context.Context) any { return []any{} }

// server starts a real peer-protocol server on loopback and returns its URL and ID.
func server(t *testing.T) (string, string) {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(key)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := peerproto.NewServer(peerproto.ServerConfig{Handler: nopHandler{}, Key: key})
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-done
	})
	return "ws://" + ln.Addr().String(), id.String()
}

func countingPool(t *testing.T) (*Pool, *atomic.Int32) {
	var dials atomic.Int32
	key, _, _ := crypto.GenerateEd25519Key(nil)
	p := New(func(ctx context.Context, url, peerID string) (*peerproto.Conn, error) {
		dials.Add(1)
		time.Sleep(50 * time.Millisecond) // widen the race window
		return peerproto.Dial(ctx, url, peerproto.DialOptions{Key: key, ExpectPeer: peerID})
	}, 0)
	t.Cleanup(p.Close)
	return p, &dials
}

// Defect 9: the gateway's cache leaked a connection when two dials raced.
func TestConcurrentGetsShareOneDial(t *testing.T) {
	url, id := server(t)
	p, dials := countingPool(t)
	conns := make([]*peerproto.Conn, 16)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := p.Get(t.Context(), url, id)
			if err != nil {
				t.Error(err)
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	if n := dials.Load(); n != 1 {
		t.Fatalf("16 concurrent callers dialled %d times, want 1", n)
	}
	for _, c := range conns {
		if c != conns[0] {
			t.Fatal("callers got different connections")
		}
	}
	// A dropped (failed) connection is dialled again.
	p.Drop(url, conns[0])
	if _, err := p.Get(t.Context(), url, id); err != nil || dials.Load() != 2 {
		t.Fatalf("after drop: %v, %d dials", err, dials.Load())
	}
}

// Defect 9: the router reused a cached connection whatever peer ID it was asked for.
func TestCachedConnectionIsCheckedAgainstThePeerID(t *testing.T) {
	url, id := server(t)
	p, dials := countingPool(t)
	if _, err := p.Get(t.Context(), url, id); err != nil {
		t.Fatal(err)
	}
	_, other := server(t)
	_, err := p.Get(t.Context(), url, other)
	if err == nil {
		t.Fatal("a connection proved for one peer was handed out for another")
	}
	if dials.Load() != 2 || !strings.Contains(err.Error(), "connect to") {
		t.Fatalf("want a fresh dial that fails the peer check: %v (%d dials)", err, dials.Load())
	}
}
