package p2p

import (
	"context"
	"errors"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// disconnect closes every connection between a and b, so a later lookup must go through the DHT.
func disconnect(a, b *Host) {
	a.host.Network().ClosePeer(b.ID())
	b.host.Network().ClosePeer(a.ID())
}

func TestBootstrapDiscovery(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	hosts := newNetwork(t, ctx, 4)
	a, c := hosts[1], hosts[3]
	disconnect(a, c)
	t.Logf("before publish: C connected to A: %v", c.host.Network().Connectedness(a.ID()) == network.Connected)

	in := PeerRecord{WSURL: "ws://127.0.0.1:18765", Models: []string{"m1"}, Load: 0.5, Accepting: true, Version: "test", Seq: 7}
	if err := a.Publish(ctx, in); err != nil {
		t.Fatalf("publish: %v", err)
	}
	disconnect(a, c)

	got, err := c.FindProviders(ctx, "m1", 10)
	if err != nil {
		t.Fatalf("find providers: %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("found %d providers, want 1 (A): %+v", len(got), got)
	}
	r := got[0]
	if r.PeerID != a.ID().String() || r.WSURL != in.WSURL || !slices.Equal(r.Models, in.Models) || r.Seq != 7 ||
		r.Load != in.Load || !r.Accepting || r.Version != "test" {
		t.Fatalf("record = %+v, want A's %+v", r, in)
	}
	if len(r.Addrs) == 0 || !strings.HasSuffix(r.Addrs[0], "/p2p/"+a.ID().String()) {
		t.Fatalf("record addrs = %v, want A's full multiaddrs", r.Addrs)
	}
	if !r.Expires.After(time.Now()) {
		t.Fatalf("record expires %s", r.Expires)
	}

	// Every other host resolves A's record directly, and the provider itself is never in its own answer.
	for _, h := range hosts {
		if h == a {
			if self, err := a.FindProviders(ctx, "m1", 10); err != nil || len(self) != 0 {
				t.Fatalf("A finds itself: %+v, %v", self, err)
			}
			continue
		}
		if got, err := h.Lookup(ctx, a.ID()); err != nil || got.Seq != 7 {
			t.Fatalf("lookup of A from %s: %+v, %v", h.ID(), got, err)
		}
	}
}

func TestProviderRepublishNewModels(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	hosts := newNetwork(t, ctx, 3)
	a, c := hosts[1], hosts[2]
	if err := a.Publish(ctx, PeerRecord{WSURL: "ws://a", Models: []string{"m1"}, Seq: 1}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.FindProviders(ctx, "m1", 0); err != nil || len(got) != 1 {
		t.Fatalf("m1 before the change: %+v, %v", got, err)
	}
	if got, err := c.FindProviders(ctx, "m2", 0); err != nil || len(got) != 0 {
		t.Fatalf("m2 before it is served: %+v, %v", got, err)
	}

	if err := a.Publish(ctx, PeerRecord{WSURL: "ws://a", Models: []string{"m1", "m2"}, Seq: 2}); err != nil {
		t.Fatal(err)
	}
	got, err := c.FindProviders(ctx, "m2", 0)
	if err != nil || len(got) != 1 || got[0].PeerID != a.ID().String() || got[0].Seq != 2 || !got[0].Serves("m2") {
		t.Fatalf("m2 after republish: %+v, %v", got, err)
	}

	// Dropping a model: the DHT keeps the old provider record, but the signed record says no more.
	if err := a.Publish(ctx, PeerRecord{WSURL: "ws://a", Models: []string{"m2"}, Seq: 3}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.FindProviders(ctx, "m1", 0); err != nil || len(got) != 0 {
		t.Fatalf("m1 after A dropped it: %+v, %v", got, err)
	}

	// An unknown model: an empty answer once the search ends, well inside the caller's deadline.
	qctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	got, err = c.FindProviders(qctx, "no-such-model", 5)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("unknown model: %+v, %v; want an empty, non-nil slice", got, err)
	}
	if qctx.Err() != nil {
		t.Fatal("the search for an unknown model ran into the caller's deadline")
	}

	// A caller's deadline that ends the search first is reported, not hidden.
	dead, cancel2 := context.WithCancel(ctx)
	cancel2()
	if got, err := c.FindProviders(dead, "no-such-model", 5); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled search: %+v, %v", got, err)
	}
}

func TestPublishSeq(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	h := newTestHost(t, ctx, nil)
	// Alone in the network: the put reaches nobody, Publish keeps the record locally and succeeds.
	if err := h.Publish(ctx, PeerRecord{Models: []string{"m"}, Seq: 5}); err != nil {
		t.Fatalf("publish alone: %v", err)
	}
	seqs := []uint64{}
	for _, asked := range []uint64{5, 3, 9} {
		if err := h.Publish(ctx, PeerRecord{Models: []string{"m"}, Seq: asked}); err != nil {
			t.Fatal(err)
		}
		r, err := h.Lookup(ctx, h.ID())
		if err != nil {
			t.Fatalf("lookup own record: %v", err)
		}
		seqs = append(seqs, r.Seq)
	}
	if !slices.Equal(seqs, []uint64{6, 7, 9}) {
		t.Fatalf("seqs %v, want [6 7 9]: never below the last one", seqs)
	}
	before := uint64(time.Now().UnixMilli())
	if err := h.Publish(ctx, PeerRecord{Models: []string{"m"}}); err != nil {
		t.Fatal(err)
	}
	if r, err := h.Lookup(ctx, h.ID()); err != nil || r.Seq < before || r.Seq > 1<<53 {
		t.Fatalf("seq 0 should become the publish time in ms: %+v, %v", r, err)
	}
	// The sequence saturates rather than wrapping to 0, which would lose to every older record.
	for range 2 {
		if err := h.Publish(ctx, PeerRecord{Models: []string{"m"}, Seq: math.MaxUint64}); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := h.Lookup(ctx, h.ID()); err != nil || r.Seq != math.MaxUint64 {
		t.Fatalf("after max seq: %+v, %v", r, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := h.Publish(cancelled, PeerRecord{Models: []string{"m"}}); err == nil {
		t.Fatal("publish with a cancelled context succeeded")
	}
}

func TestRepublish(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	hosts := newNetwork(t, ctx, 2)
	a := newTestHost(t, ctx, func(c *Config) {
		c.Bootstrap = hosts[0].Addrs()
		c.RecordTTL = 2 * time.Second
		c.Republish = 200 * time.Millisecond
	})
	waitFor(t, ctx, "A's routing table", func() bool { return a.dht.RoutingTable().Size() > 0 })
	if err := a.Publish(ctx, PeerRecord{Models: []string{"m"}, Seq: 1}); err != nil {
		t.Fatal(err)
	}
	// The record is sealed again with a new Seq and a new expiry, so it outlives its first TTL.
	waitFor(t, ctx, "a republished record", func() bool {
		r, err := hosts[1].Lookup(ctx, a.ID())
		return err == nil && r.Seq > 1
	})
	first, _ := hosts[1].Lookup(ctx, a.ID())
	waitFor(t, ctx, "a record published after the first one expired", func() bool {
		r, err := hosts[1].Lookup(ctx, a.ID())
		return err == nil && time.Now().After(first.Expires) && r.Seq > first.Seq
	})
}

// A node that published before any peer was reachable gets its record out once peers arrive, without
// waiting for the full republish interval.
func TestRepublishAfterLonelyStart(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	a := newTestHost(t, ctx, nil)
	if err := a.Publish(ctx, PeerRecord{Models: []string{"lonely"}, Seq: 1}); err != nil {
		t.Fatal(err)
	}
	b := newTestHost(t, ctx, func(c *Config) { c.Bootstrap = a.Addrs() })
	c := newTestHost(t, ctx, func(c *Config) { c.Bootstrap = b.Addrs() })
	waitFor(t, ctx, "C finds A's model", func() bool {
		got, err := c.FindProviders(ctx, "lonely", 1)
		return err == nil && len(got) == 1 && got[0].PeerID == a.ID().String()
	})
}

func TestInvalidPutThroughDHT(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	hosts := newNetwork(t, ctx, 2)
	a, b := hosts[0], hosts[1]
	keyB := b.cfg.Key

	byB := seal(t, keyB, sampleRecord(1))
	if err := a.dht.PutValue(ctx, PeerRecordKey(a.ID()), byB); err == nil {
		t.Fatal("DHT accepted B's record under A's key")
	}
	expired := sampleRecord(1)
	expired.Expires = time.Now().Add(time.Millisecond)
	expiredData := seal(t, keyB, expired)
	time.Sleep(5 * time.Millisecond) // let it expire; no timing is asserted
	if err := b.dht.PutValue(ctx, PeerRecordKey(b.ID()), expiredData); err == nil {
		t.Fatal("DHT accepted an expired record")
	}
	if err := b.dht.PutValue(ctx, PeerRecordKey(b.ID()), []byte("garbage")); err == nil {
		t.Fatal("DHT accepted garbage")
	}
	// An older record cannot displace a newer one.
	if err := b.dht.PutValue(ctx, PeerRecordKey(b.ID()), seal(t, keyB, sampleRecord(5))); err != nil {
		t.Fatalf("put of a good record: %v", err)
	}
	if err := b.dht.PutValue(ctx, PeerRecordKey(b.ID()), seal(t, keyB, sampleRecord(4))); err == nil {
		t.Fatal("DHT replaced seq 5 with seq 4")
	}
	if r, err := a.Lookup(ctx, b.ID()); err != nil || r.Seq != 5 {
		t.Fatalf("A sees B's record %+v, %v; want seq 5", r, err)
	}
	if _, err := a.Lookup(ctx, peerID(t, newKey(t))); err == nil {
		t.Fatal("lookup of a peer that never published succeeded")
	}
}

func TestPeers(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	hosts := newNetwork(t, ctx, 3)
	for _, h := range hosts[1:] {
		if err := h.Publish(ctx, PeerRecord{WSURL: "ws://" + h.ID().String(), Models: []string{"m"}}); err != nil {
			t.Fatal(err)
		}
	}
	peers := hosts[0].Peers(ctx)
	byID := map[peer.ID]PeerInfo{}
	for _, p := range peers {
		byID[p.ID] = p
	}
	for _, h := range hosts[1:] {
		p, ok := byID[h.ID()]
		if !ok {
			t.Fatalf("host %s missing from Peers: %+v", h.ID(), peers)
		}
		if p.Addr == "" || p.Record == nil || p.Record.WSURL != "ws://"+h.ID().String() {
			t.Fatalf("peer info %+v (record %+v)", p, p.Record)
		}
		if p.Latency <= 0 {
			t.Fatalf("peer %s has no latency", p.ID)
		}
	}

	// A changed record shows once the cached lookup is older than recordRefresh (aged here by hand).
	b := hosts[1]
	if err := b.Publish(ctx, PeerRecord{WSURL: "ws://changed", Models: []string{"m"}}); err != nil {
		t.Fatal(err)
	}
	if p := peerInfo(hosts[0].Peers(ctx), b.ID()); p.Record == nil || p.Record.WSURL == "ws://changed" {
		t.Fatalf("fresh cache entry was not used: %+v", p.Record)
	}
	hosts[0].mu.Lock()
	e := hosts[0].cache[b.ID()]
	e.fetched = e.fetched.Add(-2 * recordRefresh)
	hosts[0].cache[b.ID()] = e
	hosts[0].mu.Unlock()
	if p := peerInfo(hosts[0].Peers(ctx), b.ID()); p.Record == nil || p.Record.WSURL != "ws://changed" {
		t.Fatalf("stale cache entry was not refreshed: %+v", p.Record)
	}
}

func peerInfo(peers []PeerInfo, id peer.ID) PeerInfo {
	for _, p := range peers {
		if p.ID == id {
			return p
		}
	}
	return PeerInfo{}
}

// A node restarted with the same key and a counter that starts again at 1 must still replace the record it
// left in the DHT, or lookups would return the old one until it expired.
func TestRestartedNodeReplacesItsRecord(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	hosts := newNetwork(t, ctx, 3)
	key := newKey(t)
	start := func() *Host {
		h := newTestHost(t, ctx, func(c *Config) { c.Key = key; c.Bootstrap = hosts[0].Addrs() })
		waitFor(t, ctx, "routing table", func() bool { return h.dht.RoutingTable().Size() > 0 })
		return h
	}
	first := start()
	if err := first.Publish(ctx, PeerRecord{WSURL: "ws://first-run", Models: []string{"m"}, Seq: 50}); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := start()
	if err := second.Publish(ctx, PeerRecord{WSURL: "ws://second-run", Models: []string{"m"}, Seq: 1}); err != nil {
		t.Fatal(err)
	}
	r, err := hosts[2].Lookup(ctx, second.ID())
	if err != nil || r.WSURL != "ws://second-run" || r.Seq != 51 {
		t.Fatalf("record after restart: %+v, %v; want the second run's, seq 51", r, err)
	}
}

func TestConfigAndLifecycle(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	if _, err := New(ctx, Config{}); err == nil {
		t.Fatal("New without a key succeeded")
	}
	bad := [][]string{{"not a multiaddr"}, {"/ip4/127.0.0.1/tcp/1"}} // the second lacks /p2p/<id>
	for _, b := range bad {
		if _, err := New(ctx, Config{Key: newKey(t), ListenAddrs: loopback, Bootstrap: b, Logger: testLogger()}); err == nil {
			t.Fatalf("New with bootstrap %q succeeded", b)
		}
	}
	if _, err := New(ctx, Config{Key: newKey(t), ListenAddrs: loopback, RecordTTL: time.Minute, Republish: time.Minute}); err == nil {
		t.Fatal("New with republish >= TTL succeeded")
	}

	// An unreachable bootstrap peer is logged, not fatal.
	ghost := "/ip4/127.0.0.1/tcp/1/p2p/" + peerID(t, newKey(t)).String()
	h := newTestHost(t, ctx, func(c *Config) { c.Bootstrap = []string{ghost} })
	if h.cfg.Republish != DefaultRepublish || h.cfg.RecordTTL != DefaultRecordTTL {
		t.Fatalf("defaults: %+v", h.cfg)
	}
	addrs := h.Addrs()
	if len(addrs) < 2 || !slices.ContainsFunc(addrs, func(a string) bool { return strings.Contains(a, "/quic-v1/") }) ||
		!slices.ContainsFunc(addrs, func(a string) bool { return strings.Contains(a, "/tcp/") }) {
		t.Fatalf("addrs %v: want TCP and QUIC", addrs)
	}

	other := newTestHost(t, ctx, nil)
	if err := other.Connect(ctx, addrs[0]); err != nil {
		t.Fatalf("connect: %v", err)
	}
	if err := other.Connect(ctx, "garbage"); err == nil {
		t.Fatal("connect to garbage succeeded")
	}

	if err := h.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if err := h.Publish(ctx, PeerRecord{Models: []string{"m"}}); err == nil {
		t.Fatal("publish after close succeeded")
	}
}

// Each QUIC-only and TCP-only address works on its own.
func TestTransports(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	h := newTestHost(t, ctx, nil)
	for _, proto := range []string{"/tcp/", "/quic-v1"} {
		var addr string
		for _, a := range h.Addrs() {
			if strings.Contains(a, proto) {
				addr = a
			}
		}
		if addr == "" {
			t.Fatalf("no %s address in %v", proto, h.Addrs())
		}
		c := newTestHost(t, ctx, nil)
		if err := c.Connect(ctx, addr); err != nil {
			t.Fatalf("connect over %s: %v", proto, err)
		}
		conns := c.host.Network().ConnsToPeer(h.ID())
		if len(conns) == 0 || !strings.Contains(conns[0].RemoteMultiaddr().String(), proto) {
			t.Fatalf("connection over %s: %v", proto, conns)
		}
	}
}

// Close stops everything a Host started. Not parallel, so that only this test's goroutines are counted.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	ctx := testContext(t)
	before := runtime.NumGoroutine()
	func() {
		service := randomName("_leak-") + "._udp"
		var hosts []*Host
		for i := range 3 {
			cfg := Config{Key: newKey(t), ListenAddrs: loopback, Logger: testLogger(), MDNS: true, MDNSService: service}
			if i > 0 {
				cfg.Bootstrap = hosts[0].Addrs()
			}
			h, err := New(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			hosts = append(hosts, h)
		}
		defer func() {
			for _, h := range hosts {
				if err := h.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			}
		}()
		waitFor(t, ctx, "routing tables", func() bool { return hosts[2].dht.RoutingTable().Size() > 0 })
		if err := hosts[1].Publish(ctx, PeerRecord{Models: []string{"q"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := hosts[2].FindProviders(ctx, "q", 1); err != nil {
			t.Fatal(err)
		}
		hosts[0].Peers(ctx)
	}()
	var after int
	waitFor(t, ctx, "goroutines to end after Close", func() bool {
		after = runtime.NumGoroutine()
		return after <= before
	})
	t.Logf("goroutines: %d before, %d after", before, after)
}
