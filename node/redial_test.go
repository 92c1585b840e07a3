package node

import (
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aria-node/aria/p2p"
)

// redialPeer configures a node on loopback listening for libp2p on p2pAddr (no bootstrap, no mDNS).
func redialPeer(p2pAddr string) func(*Config) {
	return func(c *Config) {
		c.Peers = PeerConfig{Host: "127.0.0.1", RandomPort: true, ListenP2P: []string{p2pAddr}, NoMDNS: true,
			Publish: 100 * time.Millisecond}
	}
}

// TestRestartedPeerIsRedialled: B serves a model and A routes to it. B stops: A answers 503 node_unavailable
// with Retry-After ("providers unreachable", not "model not found"). B starts again with the same identity and
// libp2p port but a new WebSocket port, and no bootstrap of its own: A must dial it again and serve through it.
// The old code waited for the DHT's refresh (90–110 s) and answered 404 meanwhile.
func TestRestartedPeerIsRedialled(t *testing.T) {
	dir := t.TempDir()
	b := startTestNode(t, dir, redialPeer("/ip4/127.0.0.1/tcp/0"))
	bAddr := b.host.Addrs()[0]
	a := netNode(t, []string{NoModel}, bAddr)
	waitRoute(t, a, "aria-tiny-1bit")
	srv := apiServer(t, a)
	if r := chat(t, srv, false, nil, "before the restart"); r.status != 200 {
		t.Fatalf("through B before the restart: HTTP %d %v", r.status, r.body)
	}
	oldWS := b.wsURL
	stopTestNode(t, b)

	// While B is down, A says the model's providers are unreachable: also once A has seen B's connection close
	// and refreshed the models its peers serve (the model stays listed while remembered, so it is routed).
	for deadline := time.Now().Add(10 * time.Second); slices.ContainsFunc(a.host.Peers(t.Context()), func(p p2p.PeerInfo) bool { return p.ID == b.id }); {
		if time.Now().After(deadline) {
			t.Fatal("A still lists B as connected 10 s after B stopped")
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.refreshRemoteModels(t.Context())
	r := chat(t, srv, false, nil, "while B is down")
	errBody, _ := r.body["error"].(map[string]any)
	if r.status != 503 || errBody["code"] != "node_unavailable" || r.header.Get("Retry-After") == "" ||
		!strings.Contains(errBody["message"].(string), "unreachable") {
		t.Fatalf("while the only provider is down: HTTP %d Retry-After %q %v", r.status, r.header.Get("Retry-After"), r.body)
	}

	// Hold B's old WebSocket port so the restarted B must advertise another one.
	if u, err := url.Parse(oldWS); err == nil {
		if ln, err := net.Listen("tcp", u.Host); err == nil {
			defer ln.Close()
		}
	}
	p2pAddr := bAddr[:strings.Index(bAddr, "/p2p/")]
	b2 := startTestNode(t, dir, redialPeer(p2pAddr))
	if b2.wsURL == oldWS {
		t.Fatalf("restarted B kept its WebSocket URL %s", oldWS)
	}
	if b2.id != b.id {
		t.Fatalf("restarted B has another identity")
	}

	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		r := chat(t, srv, false, nil, "after the restart")
		if r.status == 200 {
			t.Logf("served through the restarted peer after %d tries", i+1)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A did not serve through the restarted B within 30 s: HTTP %d %v", r.status, r.body)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if e := b2.Energy(); e.TotalInferences < 1 {
		t.Fatalf("the restarted B ran no inference")
	}
}
