package openai

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// served is a Server serving on a loopback listener.
type served struct {
	srv      *Server
	backend  *fakeBackend
	url      string
	addr     string
	serveErr chan error
}

func serveLoopback(t *testing.T, fb *fakeBackend) *served {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(Config{Backend: fb, Version: "0.5.5", Registry: prometheus.NewRegistry(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	sv := &served{srv: s, backend: fb, url: "http://" + ln.Addr().String(), addr: ln.Addr().String(), serveErr: make(chan error, 1)}
	go func() { sv.serveErr <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		ln.Close()
	})
	return sv
}

// dialRefused reports whether a new TCP connection to addr is refused now.
func dialRefused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// waitRefused polls, boundedly, until new connections to addr are refused.
func waitRefused(t *testing.T, addr string) {
	t.Helper()
	for range 800 {
		if dialRefused(addr) {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s still accepts connections", addr)
}

func waitErr(t *testing.T, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		return nil
	}
}

func TestGracefulShutdownDrainsStream(t *testing.T) {
	fb := newFakeBackend()
	fb.tokens = []string{"Once", " upon", " a", " time", ",", " the", " end"}
	fb.holdAt = 2
	fb.release = make(chan struct{})
	fb.delay = 5 * time.Millisecond // slow tokens; correctness does not depend on it
	sv := serveLoopback(t, fb)

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp := openStream(t, ctx, client, sv.url, chatBody(`"stream":true`))
	defer resp.Body.Close()
	rd := sseReader{bufio.NewReader(resp.Body)}
	var content strings.Builder
	for i := range 2 {
		ev, err := rd.next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		content.WriteString(chunkContent(t, ev))
	}
	waitClosed(t, fb.generating, "the stream to be in flight")

	shutdownErr := make(chan error, 1)
	go func() {
		sctx, scancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer scancel()
		shutdownErr <- sv.srv.Shutdown(sctx)
	}()
	waitRefused(t, sv.addr) // the listener is closed while the stream is still open
	select {
	case err := <-shutdownErr:
		t.Fatalf("Shutdown returned %v before the in-flight stream finished", err)
	default:
	}
	close(fb.release)

	var last string
	for i := 0; ; i++ {
		if i > 100 {
			t.Fatal("stream does not end")
		}
		ev, err := rd.next()
		if err != nil {
			t.Fatalf("stream broken after %d more events: %v", i, err)
		}
		if ev == "[DONE]" {
			last = ev
			break
		}
		content.WriteString(chunkContent(t, ev))
	}
	if last != "[DONE]" {
		t.Fatal("no [DONE]")
	}
	if rest, _ := io.ReadAll(resp.Body); len(rest) != 0 {
		t.Errorf("bytes after [DONE]: %q", rest)
	}
	if want := strings.Join(fb.tokens, ""); content.String() != want {
		t.Errorf("content %q, want %q", content.String(), want)
	}
	if err := waitErr(t, shutdownErr, "Shutdown"); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := waitErr(t, sv.serveErr, "Serve to return"); err != nil {
		t.Errorf("Serve returned %v after a graceful shutdown, want nil", err)
	}
	if !dialRefused(sv.addr) {
		t.Errorf("new connections are accepted after Shutdown")
	}
	select {
	case <-fb.cancelled:
		t.Errorf("the drained stream's backend context was cancelled")
	default:
	}
}

// chunkContent returns the content of a one-choice chunk event ("" for role/finish chunks).
func chunkContent(t *testing.T, raw string) string {
	t.Helper()
	ev := sseEvent{raw: raw, json: decodeObject(t, []byte(raw))}
	d, _ := chunkChoice(t, ev)["delta"].(map[string]any)
	s, _ := d["content"].(string)
	return s
}

// When ctx ends before the stream does, Shutdown reports it and closes the connection,
// which cancels the generation.
func TestShutdownDeadlineClosesStreams(t *testing.T) {
	fb := newFakeBackend()
	fb.holdAt = 1 // park forever after one token
	sv := serveLoopback(t, fb)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	resp := openStream(t, rctx, client, sv.url, chatBody(`"stream":true`))
	defer resp.Body.Close()
	rd := sseReader{bufio.NewReader(resp.Body)}
	if _, err := rd.next(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, fb.generating, "the stream to be in flight")

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no grace at all
	if err := sv.srv.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown with an ended ctx = %v, want context.Canceled", err)
	}
	waitClosed(t, fb.cancelled, "the generation to be cancelled when its connection closed")
	for i := 0; ; i++ {
		if i > 100 {
			t.Fatal("stream does not end")
		}
		ev, err := rd.next()
		if err != nil {
			break // the connection was cut: expected
		}
		if ev == "[DONE]" {
			t.Fatal("an interrupted stream ended with [DONE]")
		}
	}
	if err := waitErr(t, sv.serveErr, "Serve to return"); err != nil {
		t.Errorf("Serve returned %v, want nil", err)
	}
	if !dialRefused(sv.addr) {
		t.Errorf("new connections are accepted after Shutdown")
	}
}

// Shutdown may race with the goroutine that calls Serve (node.Start starts Serve in a
// goroutine; a signal can arrive at once). A Shutdown that happened first must still
// stop the server: Serve must return instead of serving forever, or node.Shutdown,
// which waits for Serve to return, hangs.
func TestShutdownBeforeServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := NewServer(Config{Backend: newFakeBackend(), Version: "0.5.5", Registry: prometheus.NewRegistry(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown before Serve: %v", err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- s.Serve(ln) }()
	select {
	case err := <-serveErr:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve after Shutdown = %v, want nil or ErrServerClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("Serve after Shutdown is still serving: Shutdown was lost")
		r := doRequest(t, http.DefaultClient, "GET", "http://"+ln.Addr().String()+"/v1/models", "")
		t.Logf("a request after Shutdown got %d", r.status)
		s.Shutdown(ctx) // stop it for the next tests
		<-serveErr
	}
}
