package peerproto

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// dialFrom opens a WebSocket to url from localIP (127.0.0.x: every loopback
// address is this machine's).
func dialFrom(url, localIP string) (*websocket.Conn, error) {
	d := websocket.Dialer{
		HandshakeTimeout: testWait,
		NetDialContext:   (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}}).DialContext,
	}
	ws, _, err := d.Dial(url, nil)
	return ws, err
}

// The peer port caps its connections at accept, in total and per address: before,
// 21,000 connections took every descriptor and the HTTP API down with them.
func TestConnectionCapsAtAccept(t *testing.T) {
	ts := startServer(t, ServerConfig{Handler: &fakeHandler{}, MaxConns: 5, MaxConnsPerIP: 3})
	var held []*websocket.Conn
	defer func() {
		for _, ws := range held {
			ws.Close()
		}
	}()
	try := func(ip string) bool {
		ws, err := dialFrom(ts.url, ip)
		if err != nil {
			return false
		}
		held = append(held, ws)
		return true
	}
	for i := range 3 {
		if !try("127.0.0.1") {
			t.Fatalf("connection %d from 127.0.0.1 refused under the cap", i)
		}
	}
	if try("127.0.0.1") {
		t.Fatal("a 4th connection from one address was accepted (per-address cap 3)")
	}
	for i := range 2 {
		if !try("127.0.0.2") {
			t.Fatalf("connection %d from 127.0.0.2 refused under the cap", i)
		}
	}
	if try("127.0.0.3") {
		t.Fatal("a 6th connection was accepted (total cap 5)")
	}
	if open, refused := ts.srv.ConnStats(); open != 5 || refused != 2 {
		t.Fatalf("ConnStats = %d open, %d refused; want 5, 2", open, refused)
	}
	// A closed connection frees its place.
	held[0].Close()
	held = held[1:]
	deadline := time.Now().Add(testWait)
	for !try("127.0.0.1") {
		if time.Now().After(deadline) {
			t.Fatal("the place of a closed connection was not freed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An idle connection is closed even when it keeps pinging: pings used to refresh
// the only deadline there was.
func TestIdleCloseIgnoresPings(t *testing.T) {
	ts := startServer(t, ServerConfig{Handler: &fakeHandler{}, ReadTimeout: 5 * time.Second, IdleTimeout: 300 * time.Millisecond})
	rc := rawDial(t, ts.url)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(40 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				// Both kinds of ping: WebSocket control and protocol message.
				rc.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(time.Second))
				rc.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","request_id":"p"}`))
			}
		}
	}()
	start := time.Now()
	var err error
	for err == nil && time.Since(start) < 10*time.Second {
		_, _, err = rc.ws.ReadMessage()
	}
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("a pinging idle client: %v, want close 1001 (idle timeout)", err)
	}
}

// A connection with a request in flight is not idle, however long the request.
func TestBusyConnectionIsNotIdle(t *testing.T) {
	h := &fakeHandler{infer: func(ctx context.Context, _ InferenceRequest, _ Origin, _ func(string) error) (InferenceResponse, error) {
		select {
		case <-time.After(800 * time.Millisecond):
			return InferenceResponse{Output: "slow"}, nil
		case <-ctx.Done():
			return InferenceResponse{}, ctx.Err()
		}
	}}
	ts := startServer(t, ServerConfig{Handler: h, IdleTimeout: 200 * time.Millisecond})
	rc := rawDial(t, ts.url)
	rc.sendText(`{"type":"inference_request","request_id":"slow","data":{"query":"q"}}`)
	if env := rc.read(); env.Type != TypeInferenceResponse {
		t.Fatalf("got %s %s", env.Type, env.Data)
	}
}

// Unauthenticated clients share one bound on running inference, however many
// connections they open.
func TestUnauthenticatedClientsShareAnInFlightCap(t *testing.T) {
	release := make(chan struct{})
	var running atomic.Int32
	h := &fakeHandler{infer: func(ctx context.Context, req InferenceRequest, _ Origin, _ func(string) error) (InferenceResponse, error) {
		running.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return InferenceResponse{Output: req.Query}, nil
	}}
	ts := startServer(t, ServerConfig{Handler: h, MaxClientInFlight: 2})
	var rcs []*rawConn
	for i := range 3 {
		rc := rawDial(t, ts.url)
		rcs = append(rcs, rc)
		rc.sendText(fmt.Sprintf(`{"type":"inference_request","request_id":"r%d","data":{"query":"q"}}`, i))
		if i < 2 {
			waitUntil(t, func() bool { return running.Load() == int32(i+1) })
		}
	}
	rcs[2].expectError("r2", CodeTooManyRequests)
	// A verified peer is not held by the clients' bound.
	c := dial(t, ts.url, DialOptions{Key: newKey(t)})
	done := make(chan error, 1)
	go func() { _, err := c.Infer(context.Background(), InferenceRequest{Query: "peer"}, nil); done <- err }()
	waitUntil(t, func() bool { return running.Load() == 3 })
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("peer request: %v", err)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A cancelled request answers cancelled even when the handler maps its ctx's end
// to an error of its own (the node answered internal).
func TestCancelAnswersCancelledWhateverTheHandlerSays(t *testing.T) {
	started := make(chan struct{}, 1)
	h := &fakeHandler{infer: func(ctx context.Context, _ InferenceRequest, _ Origin, _ func(string) error) (InferenceResponse, error) {
		started <- struct{}{}
		<-ctx.Done()
		return InferenceResponse{}, &Error{Code: CodeInternal, Message: ctx.Err().Error()}
	}}
	ts := startServer(t, ServerConfig{Handler: h})
	rc := rawDial(t, ts.url)
	rc.sendText(`{"type":"inference_request","request_id":"c1","data":{"query":"q","stream":true}}`)
	waitFor(t, "handler start", chanOf(started))
	rc.sendText(`{"type":"cancel","request_id":"c1"}`)
	rc.expectError("c1", CodeCancelled)
}
