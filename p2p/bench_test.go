package p2p

import (
	"testing"
	"time"
)

// BenchmarkDiscovery measures how long a node takes to find a model's provider among 20 in-process hosts
// that all bootstrapped from the first: one FindProviders(limit 1) per op, from a rotating searcher that is
// disconnected from the provider first, so each op walks the DHT and fetches the signed record.
func BenchmarkDiscovery(b *testing.B) {
	if testing.Short() {
		b.Skip("20 hosts: skipped in -short mode")
	}
	ctx := testContext(b)
	start := time.Now()
	hosts := newNetwork(b, ctx, 20)
	provider := hosts[7]
	if err := provider.Publish(ctx, PeerRecord{WSURL: "ws://provider", Models: []string{"x"}, Seq: 1}); err != nil {
		b.Fatal(err)
	}
	b.Logf("20-host network up and provider published in %s", time.Since(start).Round(time.Millisecond))

	var searchers []*Host
	for _, h := range hosts {
		if h != provider {
			searchers = append(searchers, h)
		}
	}
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		s := searchers[i%len(searchers)]
		disconnect(s, provider)
		s.mu.Lock()
		clear(s.cache) // no help from earlier rounds
		s.mu.Unlock()
		b.StartTimer()
		got, err := s.FindProviders(ctx, "x", 1)
		if err != nil || len(got) != 1 || got[0].PeerID != provider.ID().String() {
			b.Fatalf("search %d from %s: %+v, %v", i, s.ID(), got, err)
		}
	}
}
