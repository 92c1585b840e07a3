package peerproto

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The spec's JS example, frame for frame: no hello, no protocol, no timestamp.
func TestBareClientSpecFlow(t *testing.T) {
	h := &fakeHandler{chunks: []string{"AI is ", "artificial intelligence."}}
	ts := startServer(t, ServerConfig{Handler: h, Version: "test"})
	rc := rawDial(t, ts.url)
	if rc.welcome.PeerID != ts.srv.PeerID() || rc.welcome.Protocol != Protocol || rc.welcome.Version != "test" {
		t.Fatalf("welcome %+v", rc.welcome)
	}

	rc.sendText(`{"type":"inference_request","request_id":"req-1767225600000","data":{"query":"What is AI?","model_id":"aria-2b-1bit","max_tokens":100}}`)
	env := rc.read()
	if env.Type != TypeInferenceResponse || env.RequestID != "req-1767225600000" {
		t.Fatalf("got %s for %q, want inference_response", env.Type, env.RequestID)
	}
	// What the JS reads: msg.data.output.
	var msg struct {
		Data struct {
			Output string `json:"output"`
		} `json:"data"`
	}
	raw, _ := json.Marshal(env)
	if err := json.Unmarshal(raw, &msg); err != nil || msg.Data.Output != "AI is artificial intelligence." {
		t.Fatalf("data.output = %q (%v)", msg.Data.Output, err)
	}
	var resp InferenceResponse
	if err := json.Unmarshal(env.Data, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.NodeID != ts.srv.PeerID() || resp.ModelID != "aria-2b-1bit" || resp.Usage.TotalTokens != 5 {
		t.Fatalf("response %+v", resp)
	}
	// Exactly one reply: the next frame answers the next request.
	rc.expectPong()

	h.mu.Lock()
	req := h.reqs[0]
	h.mu.Unlock()
	if req.Query != "What is AI?" || req.MaxTokens != 100 || req.Stream || req.ModelID != "aria-2b-1bit" {
		t.Fatalf("handler got %+v", req)
	}
	if o := h.lastOrigin(t); o.PeerID != "" || o.RemoteAddr == "" {
		t.Fatalf("origin %+v, want plain client with address", o)
	}
}

func TestPlainHTTPGetsUpgradeRequired(t *testing.T) {
	ts := startServer(t, ServerConfig{Handler: &fakeHandler{}})
	resp, err := http.Get(strings.Replace(ts.url, "ws://", "http://", 1))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("GET status %d, want 426", resp.StatusCode)
	}
}

func TestStreamingChunksAndUsage(t *testing.T) {
	h := &fakeHandler{chunks: []string{"one ", "two ", "three"}}
	ts := startServer(t, ServerConfig{Handler: h})
	c := dial(t, ts.url, DialOptions{})
	if c.RemotePeer() != ts.srv.PeerID() {
		t.Fatalf("RemotePeer %q, want %q", c.RemotePeer(), ts.srv.PeerID())
	}
	var got []string
	resp, err := c.Infer(context.Background(), InferenceRequest{Query: "count", ModelID: "tiny"}, func(s string) error {
		got = append(got, s)
		return nil
	})
	if err != nil {
		t.Fatalf("Infer: %v", err)
	}
	if strings.Join(got, "|") != "one |two |three" {
		t.Fatalf("chunks %q", got)
	}
	want := InferenceResponse{Output: "one two three", ModelID: "tiny", FinishReason: "stop", NodeID: ts.srv.PeerID(),
		Usage: Usage{PromptTokens: 3, CompletionTokens: 3, TotalTokens: 6}}
	if resp != want {
		t.Fatalf("response %+v, want %+v", resp, want)
	}
	h.mu.Lock()
	stream := h.reqs[0].Stream
	h.mu.Unlock()
	if !stream {
		t.Fatal("Infer with onText did not set stream")
	}

	// Without onText: no chunks, same terminal response.
	resp, err = c.Infer(context.Background(), InferenceRequest{Messages: []Message{{Role: "user", Content: "hi"}}}, nil)
	if err != nil || resp.Output != "one two three" {
		t.Fatalf("non-streamed Infer: %+v %v", resp, err)
	}
}

func TestMultiplexTwoRequestsOnOneConn(t *testing.T) {
	var arrived atomic.Int32
	both := make(chan struct{})
	h := &fakeHandler{infer: func(ctx context.Context, req InferenceRequest, _ Origin, onText func(string) error) (InferenceResponse, error) {
		if arrived.Add(1) == 2 {
			close(both)
		}
		select { // both requests are in flight at once before either answers
		case <-both:
		case <-ctx.Done():
			return InferenceResponse{}, ctx.Err()
		}
		for i := 1; i <= 3; i++ {
			if err := onText(fmt.Sprintf("%s-%d ", req.Query, i)); err != nil {
				return InferenceResponse{}, err
			}
		}
		return InferenceResponse{Output: "done " + req.Query, FinishReason: "stop"}, nil
	}}
	ts := startServer(t, ServerConfig{Handler: h})
	c := dial(t, ts.url, DialOptions{})

	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, q := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), testWait)
			defer cancel()
			var text strings.Builder
			resp, err := c.Infer(ctx, InferenceRequest{Query: q}, func(s string) error { text.WriteString(s); return nil })
			switch {
			case err != nil:
				errs <- fmt.Errorf("%s: %w", q, err)
			case resp.Output != "done "+q || text.String() != fmt.Sprintf("%[1]s-1 %[1]s-2 %[1]s-3 ", q):
				errs <- fmt.Errorf("%s: output %q text %q", q, resp.Output, text.String())
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestHelloAuthenticatesPeer(t *testing.T) {
	h := &fakeHandler{}
	ts := startServer(t, ServerConfig{Handler: h})
	key := newKey(t)
	c := dial(t, ts.url, DialOptions{Key: key, ExpectPeer: ts.srv.PeerID()})
	if c.LocalPeer() != peerIDOf(t, key) {
		t.Fatalf("LocalPeer %q", c.LocalPeer())
	}
	if _, err := c.Infer(context.Background(), InferenceRequest{Query: "x"}, nil); err != nil {
		t.Fatal(err)
	}
	if got := h.lastOrigin(t).PeerID; got != peerIDOf(t, key) {
		t.Fatalf("handler saw peer %q, want %q", got, peerIDOf(t, key))
	}

	// Raw: a valid hello gets hello_ack naming the verified ID.
	rc := rawDial(t, ts.url)
	rc.sendJSON(Envelope{Type: TypeHello, RequestID: "h1", Data: mustJSON(t, helloData(t, key, key, key, rc.welcome.PeerID, rc.nonce()))})
	env := rc.read()
	var ack HelloAck
	_ = json.Unmarshal(env.Data, &ack)
	if env.Type != TypeHelloAck || env.RequestID != "h1" || ack.PeerID != peerIDOf(t, key) {
		t.Fatalf("got %s %q %s", env.Type, env.RequestID, env.Data)
	}
}

func TestDialExpectPeerMismatch(t *testing.T) {
	ts := startServer(t, ServerConfig{Handler: &fakeHandler{}})
	_, err := Dial(context.Background(), ts.url, DialOptions{ExpectPeer: peerIDOf(t, newKey(t))})
	if err == nil || !strings.Contains(err.Error(), "expected") {
		t.Fatalf("Dial to the wrong peer: %v", err)
	}
}

func TestHelloRefused(t *testing.T) {
	a, b := newKey(t), newKey(t)
	otherNonce := make([]byte, nonceSize)
	cases := []struct {
		name  string
		hello func(rc *rawConn) Hello
	}{
		{"public key not the peer id's", func(rc *rawConn) Hello { return helloData(t, b, a, a, rc.welcome.PeerID, rc.nonce()) }},
		{"signature by another key", func(rc *rawConn) Hello { return helloData(t, a, a, b, rc.welcome.PeerID, rc.nonce()) }},
		{"signature over another nonce", func(rc *rawConn) Hello { return helloData(t, a, a, a, rc.welcome.PeerID, otherNonce) }},
		{"signature for another server", func(rc *rawConn) Hello { return helloData(t, a, a, a, peerIDOf(t, b), rc.nonce()) }},
		{"garbage", func(*rawConn) Hello { return Hello{PeerID: "nope", Signature: "!!", PublicKey: "??"} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &fakeHandler{}
			ts := startServer(t, ServerConfig{Handler: h})
			rc := rawDial(t, ts.url)
			rc.sendJSON(Envelope{Type: TypeHello, RequestID: "h", Data: mustJSON(t, tc.hello(rc))})
			rc.expectError("h", CodeUnauthorized)
			// The connection stays, as a plain client.
			rc.sendText(`{"type":"inference_request","request_id":"r","data":{"query":"q"}}`)
			if env := rc.read(); env.Type != TypeInferenceResponse {
				t.Fatalf("got %s %s", env.Type, env.Data)
			}
			if o := h.lastOrigin(t); o.PeerID != "" {
				t.Fatalf("refused hello still made a peer: %+v", o)
			}
		})
	}
}

func TestStatsPeersPing(t *testing.T) {
	ts := startServer(t, ServerConfig{Handler: &fakeHandler{}})
	c := dial(t, ts.url, DialOptions{})
	ctx := context.Background()
	stats, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(stats, &s); err != nil || s["requests"] != float64(7) {
		t.Fatalf("stats %s (%v)", stats, err)
	}
	peers, err := c.Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var p []map[string]string
	if err := json.Unmarshal(peers, &p); err != nil || len(p) != 1 || p[0]["url"] != "ws://10.0.0.2:8765" {
		t.Fatalf("peers %s (%v)", peers, err)
	}
	if rtt, err := c.Ping(ctx); err != nil || rtt <= 0 {
		t.Fatalf("Ping %v %v", rtt, err)
	}

	rc := rawDial(t, ts.url)
	rc.sendText(`{"type":"get_peers","request_id":"g"}`)
	env := rc.read()
	if env.Type != TypePeersList || env.RequestID != "g" || !strings.HasPrefix(string(env.Data), `{"peers":[`) {
		t.Fatalf("got %s %q %s", env.Type, env.RequestID, env.Data)
	}
	rc.sendText(`{"type":"get_stats"}`) // no request_id: the server makes one
	if env := rc.read(); env.Type != TypeStats || !strings.HasPrefix(env.RequestID, "srv-") {
		t.Fatalf("got %s %q", env.Type, env.RequestID)
	}
	rc.sendText(`{"type":"teleport","request_id":"u"}`)
	rc.expectError("u", CodeUnknownType)
	rc.sendText(`{"type":"error","request_id":"e","data":{"code":"internal"}}`) // never answered
	rc.expectPong()
}

func TestMalformedFramesKeepConnection(t *testing.T) {
	ts := startServer(t, ServerConfig{Handler: &fakeHandler{}})
	rc := rawDial(t, ts.url)
	rc.sendText(`{"type":"ping"`)
	rc.expectError("", CodeMalformed)
	rc.sendText(`not json at all`)
	rc.expectError("", CodeMalformed)
	rc.sendText(`{"request_id":"m","data":{}}`) // missing type: the id is echoed
	rc.expectError("m", CodeMalformed)
	rc.sendText(`["type","ping"]`)
	rc.expectError("", CodeMalformed)
	if err := rc.ws.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	rc.expectError("", CodeMalformed)
	rc.sendText(`{"type":"inference_request","request_id":"bad","data":{"query":42}}`)
	rc.expectError("bad", CodeInvalidRequest)
	rc.sendText(`{"type":"inference_request","request_id":"empty","data":{"model_id":"tiny"}}`)
	rc.expectError("empty", CodeInvalidRequest)
	rc.expectPong()
}

func TestOversizeFrameClosesOnlyThatConnection(t *testing.T) {
	const limit = 1024
	ts := startServer(t, ServerConfig{Handler: &fakeHandler{}, MaxFrameBytes: limit})
	other := dial(t, ts.url, DialOptions{})
	rc := rawDial(t, ts.url)

	// Exactly at the limit is fine.
	pad := limit - len(`{"type":"ping","request_id":"x","data":""}`)
	rc.sendText(`{"type":"ping","request_id":"x","data":"` + strings.Repeat("a", pad) + `"}`)
	if env := rc.read(); env.Type != TypePong {
		t.Fatalf("at-limit frame: got %s", env.Type)
	}

	rc.sendText(`{"type":"ping","data":"` + strings.Repeat("a", 4*limit) + `"}`)
	rc.expectError("", CodeFrameTooLarge)
	_, err := rc.readErr()
	if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("after frame_too_large: %v, want close 1009", err)
	}
	if _, err := other.Ping(context.Background()); err != nil {
		t.Fatalf("other connection broken: %v", err)
	}

	// A Conn whose request is too large learns why its connection died.
	_, err = other.Infer(context.Background(), InferenceRequest{Query: strings.Repeat("q", 2*limit)}, nil)
	var lost *ConnLostError
	if !errors.As(err, &lost) || lost.AfterFirstToken || !errors.Is(err, &Error{Code: CodeFrameTooLarge}) {
		t.Fatalf("oversize Infer: %v, want ConnLostError wrapping frame_too_large", err)
	}
}

func TestMaxInFlight(t *testing.T) {
	release := make(chan struct{})
	var started atomic.Int32
	h := &fakeHandler{infer: func(ctx context.Context, req InferenceRequest, _ Origin, _ func(string) error) (InferenceResponse, error) {
		started.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
			return InferenceResponse{}, ctx.Err()
		}
		return InferenceResponse{Output: req.Query}, nil
	}}
	ts := startServer(t, ServerConfig{Handler: h, MaxInFlight: 2})
	rc := rawDial(t, ts.url)
	for i := 1; i <= 3; i++ {
		rc.sendText(fmt.Sprintf(`{"type":"inference_request","request_id":"r%d","data":{"query":"q%d"}}`, i, i))
	}
	rc.expectError("r3", CodeTooManyRequests)
	rc.sendText(`{"type":"inference_request","request_id":"r1","data":{"query":"dup"}}`)
	rc.expectError("r1", CodeInvalidRequest) // r1 is still running
	rc.expectPong()                          // control traffic is not held up
	close(release)
	seen := map[string]bool{}
	for range 2 {
		env := rc.read()
		if env.Type != TypeInferenceResponse {
			t.Fatalf("got %s %s", env.Type, env.Data)
		}
		seen[env.RequestID] = true
	}
	if !seen["r1"] || !seen["r2"] {
		t.Fatalf("responses for %v", seen)
	}
	// Capacity is back.
	rc.sendText(`{"type":"inference_request","request_id":"r4","data":{"query":"q4"}}`)
	if env := rc.read(); env.Type != TypeInferenceResponse || env.RequestID != "r4" {
		t.Fatalf("got %s %q", env.Type, env.RequestID)
	}
}

func TestCancelStopsHandler(t *testing.T) {
	started := make(chan struct{}, 2)
	cancelled := make(chan error, 2)
	h := &fakeHandler{infer: func(ctx context.Context, _ InferenceRequest, _ Origin, onText func(string) error) (InferenceResponse, error) {
		started <- struct{}{}
		<-ctx.Done() // bounded: the test fails if cancel never arrives
		cancelled <- context.Cause(ctx)
		return InferenceResponse{}, ctx.Err()
	}}
	ts := startServer(t, ServerConfig{Handler: h})

	c := dial(t, ts.url, DialOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Infer(ctx, InferenceRequest{Query: "long"}, func(string) error { return nil })
		done <- err
	}()
	waitFor(t, "handler start", chanOf(started))
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Infer after cancel: %v", err)
		}
	case <-time.After(testWait):
		t.Fatal("Infer did not return after cancel")
	}
	select {
	case cause := <-cancelled:
		if !errors.Is(cause, errCancelRequested) {
			t.Fatalf("handler ctx cause %v", cause)
		}
	case <-time.After(testWait):
		t.Fatal("handler ctx not cancelled")
	}
	if _, err := c.Ping(context.Background()); err != nil {
		t.Fatalf("conn after cancel: %v", err)
	}

	// A raw client gets a terminal error for the cancelled request.
	rc := rawDial(t, ts.url)
	rc.sendText(`{"type":"inference_request","request_id":"c1","data":{"query":"q","stream":true}}`)
	waitFor(t, "handler start", chanOf(started))
	rc.sendText(`{"type":"cancel","request_id":"c1"}`)
	rc.expectError("c1", CodeCancelled)
	<-cancelled
}

func TestConnLostBeforeAndAfterFirstToken(t *testing.T) {
	for _, after := range []bool{false, true} {
		t.Run(fmt.Sprintf("after=%v", after), func(t *testing.T) {
			var ts *testServer
			received := make(chan struct{})
			h := &fakeHandler{infer: func(ctx context.Context, _ InferenceRequest, _ Origin, onText func(string) error) (InferenceResponse, error) {
				if after {
					if err := onText("first"); err != nil {
						return InferenceResponse{}, err
					}
					select {
					case <-received:
					case <-ctx.Done():
						return InferenceResponse{}, ctx.Err()
					}
				}
				ts.ln.kill() // the server process dies mid-request
				<-ctx.Done()
				return InferenceResponse{}, ctx.Err()
			}}
			ts = startServer(t, ServerConfig{Handler: h})
			c := dial(t, ts.url, DialOptions{})
			var once sync.Once
			_, err := c.Infer(context.Background(), InferenceRequest{Query: "q"}, func(string) error {
				once.Do(func() { close(received) })
				return nil
			})
			var lost *ConnLostError
			if !errors.Is(err, ErrConnLost) || !errors.As(err, &lost) {
				t.Fatalf("Infer: %v, want ConnLostError", err)
			}
			if lost.AfterFirstToken != after {
				t.Fatalf("AfterFirstToken = %v, want %v (%v)", lost.AfterFirstToken, after, err)
			}
			waitFor(t, "conn done", c.Done())
			if _, err := c.Infer(context.Background(), InferenceRequest{Query: "q"}, nil); !errors.Is(err, ErrConnLost) {
				t.Fatalf("Infer on a dead conn: %v", err)
			}
		})
	}
}

func TestShutdownDrainsInFlight(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	h := &fakeHandler{infer: func(ctx context.Context, _ InferenceRequest, _ Origin, _ func(string) error) (InferenceResponse, error) {
		started <- struct{}{}
		select {
		case <-release:
			return InferenceResponse{Output: "finished"}, nil
		case <-ctx.Done():
			return InferenceResponse{}, ctx.Err()
		}
	}}
	ts := startServer(t, ServerConfig{Handler: h})
	c := dial(t, ts.url, DialOptions{})
	type result struct {
		resp InferenceResponse
		err  error
	}
	res := make(chan result, 1)
	go func() {
		r, err := c.Infer(context.Background(), InferenceRequest{Query: "q"}, nil)
		res <- result{r, err}
	}()
	waitFor(t, "handler start", chanOf(started))

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testWait)
		defer cancel()
		shut <- ts.srv.Shutdown(ctx)
	}()
	select {
	case err := <-ts.served:
		if !errors.Is(err, ErrServerClosed) {
			t.Fatalf("Serve returned %v", err)
		}
	case <-time.After(testWait):
		t.Fatal("Serve still running after Shutdown began")
	}
	// While draining, new work on the open connection is refused...
	deadline := time.Now().Add(testWait)
	for {
		_, err := c.Stats(context.Background())
		if errors.Is(err, &Error{Code: CodeShuttingDown}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Stats while draining: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// ...and new connections are not accepted.
	if _, err := Dial(context.Background(), ts.url, DialOptions{}); err == nil {
		t.Fatal("Dial succeeded during shutdown")
	}
	close(release)
	r := <-res
	if r.err != nil || r.resp.Output != "finished" {
		t.Fatalf("in-flight request: %+v %v", r.resp, r.err)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(testWait):
		t.Fatal("Shutdown did not return")
	}
	waitFor(t, "client conn closed", c.Done())
	ts.served <- ErrServerClosed // for the cleanup's check
}

func TestShutdownDeadlineCancelsRequests(t *testing.T) {
	started := make(chan struct{}, 1)
	h := &fakeHandler{infer: func(ctx context.Context, _ InferenceRequest, _ Origin, _ func(string) error) (InferenceResponse, error) {
		started <- struct{}{}
		<-ctx.Done()
		return InferenceResponse{}, ctx.Err()
	}}
	ts := startServer(t, ServerConfig{Handler: h})
	c := dial(t, ts.url, DialOptions{})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Infer(context.Background(), InferenceRequest{Query: "q"}, nil)
		errc <- err
	}()
	waitFor(t, "handler start", chanOf(started))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-errc; !errors.Is(err, &Error{Code: CodeShuttingDown}) {
		t.Fatalf("cut request: %v, want shutting_down", err)
	}
	waitFor(t, "client conn closed", c.Done())
}

func TestReadTimeoutAndKeepalive(t *testing.T) {
	ts := startServer(t, ServerConfig{Handler: &fakeHandler{}, ReadTimeout: 300 * time.Millisecond})
	c := dial(t, ts.url, DialOptions{PingInterval: 50 * time.Millisecond})
	rc := rawDial(t, ts.url)
	// The raw client stays silent and is closed; the pinging client is not.
	_, err := rc.readErr()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("silent client: %v, want close 1001", err)
	}
	time.Sleep(600 * time.Millisecond)
	if _, err := c.Ping(context.Background()); err != nil {
		t.Fatalf("pinging client dropped: %v", err)
	}
}

func TestLongRequestOutlivesReadTimeout(t *testing.T) {
	// A bare client that sends one request and then only waits must not be
	// dropped while the request runs: the server pings, the client pongs.
	h := &fakeHandler{infer: func(ctx context.Context, _ InferenceRequest, _ Origin, _ func(string) error) (InferenceResponse, error) {
		select {
		case <-time.After(time.Second):
			return InferenceResponse{Output: "slow"}, nil
		case <-ctx.Done():
			return InferenceResponse{}, ctx.Err()
		}
	}}
	ts := startServer(t, ServerConfig{Handler: h, ReadTimeout: 300 * time.Millisecond})
	rc := rawDial(t, ts.url)
	rc.sendText(`{"type":"inference_request","request_id":"slow","data":{"query":"q"}}`)
	if env := rc.read(); env.Type != TypeInferenceResponse {
		t.Fatalf("got %s %s", env.Type, env.Data)
	}
}

func TestHandlerErrorsMapToCodes(t *testing.T) {
	h := &fakeHandler{infer: func(_ context.Context, req InferenceRequest, _ Origin, _ func(string) error) (InferenceResponse, error) {
		switch req.Query {
		case "busy":
			return InferenceResponse{}, fmt.Errorf("queue: %w", &Error{Code: CodeBusy, Message: "queue full"})
		case "refused":
			return InferenceResponse{}, &Error{Code: CodeRefused, Message: "outside schedule", Reason: "schedule"}
		case "panic":
			panic("boom")
		}
		return InferenceResponse{}, errors.New("secret path /home/x")
	}}
	ts := startServer(t, ServerConfig{Handler: h})
	c := dial(t, ts.url, DialOptions{})
	ctx := context.Background()
	_, err := c.Infer(ctx, InferenceRequest{Query: "busy"}, nil)
	if !errors.Is(err, &Error{Code: CodeBusy}) {
		t.Fatalf("busy: %v", err)
	}
	_, err = c.Infer(ctx, InferenceRequest{Query: "refused"}, nil)
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != CodeRefused || pe.Reason != "schedule" {
		t.Fatalf("refused: %v", err)
	}
	_, err = c.Infer(ctx, InferenceRequest{Query: "panic"}, nil)
	if !errors.Is(err, &Error{Code: CodeInternal}) {
		t.Fatalf("panic: %v", err)
	}
	_, err = c.Infer(ctx, InferenceRequest{Query: "other"}, nil)
	if !errors.As(err, &pe) || pe.Code != CodeInternal || strings.Contains(pe.Message, "secret") {
		t.Fatalf("plain error: %v", err)
	}
	if _, err := c.Ping(ctx); err != nil {
		t.Fatalf("server unhealthy after handler panic: %v", err)
	}
}

func chanOf(c chan struct{}) <-chan struct{} { return c }

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNoGoroutineLeft(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		h := &fakeHandler{}
		key := newKey(t)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := NewServer(ServerConfig{Handler: h, Key: key})
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		url := "ws://" + ln.Addr().String()
		ctx, cancel := context.WithTimeout(context.Background(), testWait)
		defer cancel()
		a, err := Dial(ctx, url, DialOptions{Key: newKey(t)})
		if err != nil {
			t.Fatal(err)
		}
		b, err := Dial(ctx, url, DialOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Infer(ctx, InferenceRequest{Query: "q"}, func(string) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Stats(ctx); err != nil {
			t.Fatal(err)
		}
		_ = a.Close() // one client leaves on its own, the other is closed by Shutdown
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		<-served
		waitFor(t, "client b closed", b.Done())
	}()
	deadline := time.Now().Add(testWait)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
