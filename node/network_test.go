package node

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/p2p"
	"github.com/aria-node/aria/p2p/peerproto"
)

// netNode starts a node with the peer network on loopback (no mDNS) and its HTTP API
// as an httptest server.
func netNode(t *testing.T, models []string, bootstrap ...string) *Node {
	t.Helper()
	return netNodeTB(t, models, 1, bootstrap...)
}

func netNodeTB(t testing.TB, models []string, threads int, bootstrap ...string) *Node {
	t.Helper()
	return startTestNode(t, t.TempDir(), func(c *Config) {
		c.Models = models
		c.Engine.Threads = threads
		c.Peers = PeerConfig{Host: "127.0.0.1", RandomPort: true, ListenP2P: []string{"/ip4/127.0.0.1/tcp/0"},
			Bootstrap: bootstrap, NoMDNS: true, Publish: 100 * time.Millisecond}
	})
}

// waitRoute waits until n lists model as served by a peer and finds its provider.
func waitRoute(t *testing.T, n *Node, model string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(n.router.candidates(t.Context(), model)) == 0 || !slices.ContainsFunc(n.RemoteModels(), func(m inference.ModelInfo) bool { return m.ID == model }) {
		if time.Now().After(deadline) {
			t.Fatalf("no provider of %s found within 20 s", model)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRequestForAModelOnlyAPeerServesGoesThroughThePeer(t *testing.T) {
	b := netNode(t, nil)
	a := netNode(t, []string{NoModel}, b.host.Addrs()[0])
	waitRoute(t, a, "aria-tiny-1bit")
	srv := apiServer(t, a)

	r := chat(t, srv, false, nil, "hello through a peer")
	if r.status != 200 {
		t.Fatalf("HTTP %d %v", r.status, r.body)
	}
	usage, _ := r.body["usage"].(map[string]any)
	choices, _ := r.body["choices"].([]any)
	first, _ := choices[0].(map[string]any)
	if usage["completion_tokens"] != float64(4) || first["finish_reason"] != "length" {
		t.Fatalf("usage and finish reason must come back intact: %v", r.body)
	}
	// The same request run on B directly gives the same greedy text.
	direct := chat(t, apiServer(t, b), false, nil, "hello through a peer")
	msg := func(r apiReply) any {
		c, _ := r.body["choices"].([]any)
		f, _ := c[0].(map[string]any)
		m, _ := f["message"].(map[string]any)
		return m["content"]
	}
	if msg(r) != msg(direct) {
		t.Fatalf("through the peer %q, on the peer %q", msg(r), msg(direct))
	}
	if e := b.Energy(); e.TotalInferences < 2 {
		t.Fatalf("B did not run the forwarded request: %d inferences", e.TotalInferences)
	}
	models := do(t, mustRequest(t, "GET", srv.URL+"/v1/models"))
	data, _ := models.body["data"].([]any)
	if len(data) != 1 || !strings.Contains(mustJSON(t, data[0]), `"remote":true`) {
		t.Fatalf("/v1/models on A must list B's model as remote: %v", models.body)
	}
}

// faultyPeer is a real libp2p host and WebSocket server that advertises a model and
// dies while serving it: before its first token, or after it.
type faultyPeer struct {
	srv    *peerproto.Server
	ln     *crashListener
	calls  atomic.Int32
	before bool
}

// crashListener remembers its connections so a test can drop them all at once, as
// a dying process would.
type crashListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *crashListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *crashListener) crash() {
	l.Listener.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
}

func (f *faultyPeer) Infer(ctx context.Context, r peerproto.InferenceRequest, from peerproto.Origin, onText func(string) error) (peerproto.InferenceResponse, error) {
	f.calls.Add(1)
	if !f.before && onText != nil {
		onText("partial ")
		time.Sleep(50 * time.Millisecond)
	}
	go f.ln.crash() // the process dies: connections drop without an answer
	<-ctx.Done()
	return peerproto.InferenceResponse{}, ctx.Err()
}
func (f *faultyPeer) Stats(ctx context.Context) any { return map[string]any{} }
func (f *faultyPeer) Peers(ctx context.Context) any { return map[string]any{"peers": []any{}} }

func startFaultyPeer(t *testing.T, before bool, model string, bootstrap string) *faultyPeer {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &faultyPeer{before: before}
	f.srv = peerproto.NewServer(peerproto.ServerConfig{Handler: f, Key: key})
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.ln = &crashListener{Listener: raw}
	ln := f.ln
	go f.srv.Serve(ln)
	t.Cleanup(ln.crash)
	h, err := p2p.New(t.Context(), p2p.Config{Key: key, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: []string{bootstrap}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	// It claims to be the least loaded provider, so routers try it first.
	rec := p2p.PeerRecord{WSURL: "ws://" + ln.Addr().String(), Models: []string{model}, Load: -1, Accepting: true, Version: Version, Seq: 1}
	if err := h.Publish(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestPeerDyingBeforeTheFirstTokenFailsOverToTheNext(t *testing.T) {
	c := netNode(t, nil)
	a := netNode(t, []string{NoModel}, c.host.Addrs()[0])
	bad := startFaultyPeer(t, true, "aria-tiny-1bit", c.host.Addrs()[0])
	waitProviders(t, a, "aria-tiny-1bit", 2)
	srv := apiServer(t, a)
	r := chat(t, srv, false, nil, "fail over")
	if r.status != 200 {
		t.Fatalf("HTTP %d %v", r.status, r.body)
	}
	if bad.calls.Load() == 0 {
		t.Fatal("the failing peer was never tried: the test proves nothing")
	}
	if c.Energy().TotalInferences != 1 {
		t.Fatal("C did not serve the request after B failed")
	}
}

func TestPeerDyingAfterTheFirstTokenEndsWithACleanError(t *testing.T) {
	c := netNode(t, nil)
	a := netNode(t, []string{NoModel}, c.host.Addrs()[0])
	bad := startFaultyPeer(t, false, "aria-tiny-1bit", c.host.Addrs()[0])
	waitProviders(t, a, "aria-tiny-1bit", 2)
	res, err := a.Generate(t.Context(), inference.Request{Model: "aria-tiny-1bit", Prompt: "x", MaxTokens: 8, Sampling: inference.DefaultSampling()},
		func(inference.Token) error { return nil })
	if err == nil || bad.calls.Load() == 0 {
		t.Fatalf("a peer dying mid-answer must fail the request: %+v %v (calls %d)", res, err, bad.calls.Load())
	}
	var lost *peerproto.ConnLostError
	if !errors.As(err, &lost) || !strings.Contains(err.Error(), "mid-answer") {
		t.Fatalf("error %v: want a connection-lost error after the first token", err)
	}
	if c.Energy().TotalInferences != 0 {
		t.Fatal("the request was retried after tokens had been sent")
	}
}

func TestHopLimitStopsForwarding(t *testing.T) {
	a := netNode(t, []string{NoModel})
	key, _, _ := crypto.GenerateEd25519Key(nil)
	conn, err := peerproto.Dial(t.Context(), a.NodeURI(), peerproto.DialOptions{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = conn.Infer(t.Context(), peerproto.InferenceRequest{ModelID: "aria-tiny-1bit", Query: "loop?", MaxTokens: 4, Hops: MaxHops}, nil)
	var pe *peerproto.Error
	if !errors.As(err, &pe) || pe.Code != "hop_limit" {
		t.Fatalf("request forwarded %d times for a model this node lacks: %v", MaxHops, err)
	}
	_, err = conn.Infer(t.Context(), peerproto.InferenceRequest{ModelID: "no-such-model", Query: "x", MaxTokens: 4}, nil)
	if !errors.As(err, &pe) || pe.Code != "model_not_found" {
		t.Fatalf("unknown model with no providers: %v", err)
	}
}

func TestSpecJSClientAndStats(t *testing.T) {
	n := netNode(t, nil)
	conn, err := peerproto.Dial(t.Context(), n.NodeURI(), peerproto.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := conn.Infer(t.Context(), peerproto.InferenceRequest{Query: "What is AI?", ModelID: "aria-tiny-1bit", MaxTokens: 5}, nil)
	if err != nil || resp.Output == "" || resp.Usage.CompletionTokens != 5 || resp.NodeID != n.id.String() {
		t.Fatalf("bare inference_request: %+v %v", resp, err)
	}
	raw, err := conn.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var st NodeStats
	if err := json.Unmarshal(raw, &st); err != nil || st.NodeID != n.id.String() || len(st.Models) != 1 || st.Energy.TotalInferences != 1 {
		t.Fatalf("stats: %s %v", raw, err)
	}
}

func waitProviders(t *testing.T, n *Node, model string, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	listed := func() bool {
		return n.servesLocally(model) || slices.ContainsFunc(n.RemoteModels(), func(m inference.ModelInfo) bool { return m.ID == model })
	}
	for len(n.router.candidates(t.Context(), model)) < want || !listed() {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d providers of %s found within 20 s", want, model)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBusyNodeSendsTheRequestToAPeer(t *testing.T) {
	c := netNode(t, nil)
	b := startTestNode(t, t.TempDir(), func(cfg *Config) {
		cfg.Engine.Slots = 1
		cfg.Peers = PeerConfig{Host: "127.0.0.1", RandomPort: true, ListenP2P: []string{"/ip4/127.0.0.1/tcp/0"},
			Bootstrap: []string{c.host.Addrs()[0]}, NoMDNS: true, Publish: 100 * time.Millisecond}
	})
	waitProviders(t, b, "aria-tiny-1bit", 1)

	// Occupy B's only slot with a generation that waits on the test.
	started, release := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	hctx, cancel := context.WithCancel(t.Context())
	go func() {
		var once bool
		_, err := b.Generate(hctx, inference.Request{Model: "aria-tiny-1bit", Prompt: "hold", MaxTokens: 1500, Sampling: inference.DefaultSampling()},
			func(inference.Token) error {
				if !once {
					once = true
					close(started)
					<-release
				}
				return nil
			})
		held <- err
	}()
	<-started
	defer func() { cancel(); close(release); <-held }()

	r := chat(t, apiServer(t, b), false, nil, "B is busy")
	if r.status != 200 {
		t.Fatalf("HTTP %d %v", r.status, r.body)
	}
	if c.Energy().TotalInferences != 1 {
		t.Fatal("the request did not go to the idle peer while B's slots were full")
	}
}

// Two nodes whose records (stale, or lying) each claim a model neither has: the hop
// count stops the request bouncing between them.
func TestHopLimitStopsALoopBetweenTwoNodes(t *testing.T) {
	a := netNode(t, []string{NoModel})
	b := netNode(t, []string{NoModel}, a.host.Addrs()[0])
	for _, n := range []*Node{a, b} {
		rec := n.peerRecord(n.Record())
		rec.Models = []string{"ghost"}
		if err := n.host.Publish(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	waitProviders(t, a, "ghost", 1)
	waitProviders(t, b, "ghost", 1)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err := a.Generate(ctx, inference.Request{Model: "ghost", Prompt: "round and round", MaxTokens: 4, Sampling: inference.DefaultSampling()}, nil)
	t.Logf("error: %v", err)
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "forwarded") {
		t.Fatalf("a request for a model no node has, between two nodes that claim it: %v (ctx %v)", err, ctx.Err())
	}
}

func TestRouterPrefersTheLeastLoadedPeer(t *testing.T) {
	c := netNode(t, nil)
	b := netNode(t, nil, c.host.Addrs()[0])
	a := netNode(t, []string{NoModel}, c.host.Addrs()[0])
	waitProviders(t, a, "aria-tiny-1bit", 2)
	// B advertises all its slots busy and a queue (load 2); C is idle.
	rec := b.peerRecord(b.Record())
	rec.Load = 2
	if err := b.host.Publish(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		a.router.forgetProviders("aria-tiny-1bit")
		cands := a.router.candidates(t.Context(), "aria-tiny-1bit")
		if len(cands) == 2 && cands[0].PeerID == c.id.String() && cands[1].Load == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A never saw B's load: %+v", cands)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for range 3 {
		if _, err := a.Generate(t.Context(), inference.Request{Model: "aria-tiny-1bit", Prompt: "who is free?", MaxTokens: 4, Sampling: inference.DefaultSampling()}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if c.Energy().TotalInferences != 3 || b.Energy().TotalInferences != 0 {
		t.Fatalf("served by C %d, by B %d: want every request on the idle peer C", c.Energy().TotalInferences, b.Energy().TotalInferences)
	}
}

func TestRecordIsRepublishedWhenLoadMovesAQuarter(t *testing.T) {
	for _, tc := range []struct {
		from, to float64
		bump     bool
	}{{0, 0.1, false}, {0, 0.25, true}, {0.5, 0.6, false}, {1, 2, true}, {0.75, 1, true}} {
		if got := loadStep(tc.from) != loadStep(tc.to); got != tc.bump {
			t.Errorf("load %.2f -> %.2f: republish %v, want %v", tc.from, tc.to, got, tc.bump)
		}
	}
}

// Defect 7: get_peers answered {"peers":{"peers":[…]}}, and peers.count was always 0.
func TestGetPeersAnswersAnArrayAndConditionsCountPeers(t *testing.T) {
	a := netNode(t, nil)
	b := netNode(t, []string{NoModel}, a.host.Addrs()[0])
	deadline := time.Now().Add(20 * time.Second)
	for b.host.PeerCount() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("b never connected to a")
		}
		time.Sleep(50 * time.Millisecond)
	}
	conn, err := peerproto.Dial(t.Context(), b.NodeURI(), peerproto.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raw, err := conn.Peers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var list []PeerEntry
	if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 || list[0].PeerID != a.id.String() {
		t.Fatalf("data.peers = %s (%v), want an array naming %s", raw, err, a.id)
	}
	if got := b.conditionState()["peers.count"]; got != float64(b.host.PeerCount()) || got < 1 {
		t.Fatalf("peers.count = %v, want %d", got, b.host.PeerCount())
	}
}

// An unserved model used to re-walk the DHT (up to 3 s) on every request.
func TestUnservedModelLookupIsRemembered(t *testing.T) {
	a := netNode(t, nil)
	b := netNode(t, []string{NoModel}, a.host.Addrs()[0])
	for deadline := time.Now().Add(20 * time.Second); b.host.PeerCount() == 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // connection events have voided the cache by now
	before := b.router.lookups.Load()
	for range 5 {
		if c := b.router.candidates(t.Context(), "no-such-model"); len(c) != 0 {
			t.Fatalf("candidates for an unserved model: %v", c)
		}
	}
	if n := b.router.lookups.Load() - before; n != 1 {
		t.Fatalf("5 requests for an unserved model made %d DHT lookups, want 1", n)
	}
}
