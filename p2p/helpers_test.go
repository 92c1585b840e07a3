package p2p

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// testTimeout bounds every network test; the tests assert behaviour, never timing.
const testTimeout = 60 * time.Second

// loopback keeps test hosts off real interfaces; TCP and QUIC both, as in production.
var loopback = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}

func testLogger() *slog.Logger {
	// ARIA_P2P_TEST_LOG=1 shows the package's own logs (libp2p's are controlled by GOLOG_LOG_LEVEL).
	if os.Getenv("ARIA_P2P_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	return k
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newTestHost starts a loopback host; edit adjusts the config before New. It is closed at cleanup.
func newTestHost(t testing.TB, ctx context.Context, edit func(*Config)) *Host {
	t.Helper()
	cfg := Config{Key: newKey(t), ListenAddrs: loopback, Logger: testLogger()}
	if edit != nil {
		edit(&cfg)
	}
	h, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("new host: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("close host %s: %v", h.ID(), err)
		}
	})
	return h
}

// newNetwork starts n hosts that all bootstrap from the first, and waits until every DHT routing table
// holds at least one peer (the first's holds them all), so that puts and provides reach the network.
func newNetwork(t testing.TB, ctx context.Context, n int) []*Host {
	t.Helper()
	hosts := []*Host{newTestHost(t, ctx, nil)}
	for range n - 1 {
		hosts = append(hosts, newTestHost(t, ctx, func(c *Config) { c.Bootstrap = hosts[0].Addrs() }))
	}
	for i, h := range hosts {
		want := 1
		if i == 0 {
			want = n - 1
		}
		waitFor(t, ctx, "routing table of host "+h.ID().String(), func() bool {
			return h.dht.RoutingTable().Size() >= want
		})
	}
	return hosts
}

// waitFor polls cond until it holds, failing the test with what when ctx ends first.
func waitFor(t testing.TB, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}

func randomName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}
