package openai

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aria-node/aria/inference"
)

// doWith sends a request with extra headers (a browser's Origin, a Host).
func (e *env) doWith(method, path, body string, hdr map[string]string) response {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func assertAPIError(t *testing.T, what string, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d (%s)", what, r.status, status, r.body)
	}
	if eb := assertErrorBody(t, r.body); eb.Code != code {
		t.Fatalf("%s: code %q, want %q", what, eb.Code, code)
	}
}

var everyEndpoint = []struct{ method, path, body string }{
	{"GET", "/v1/models", ""},
	{"GET", "/v1/models/aria-2b-1bit", ""},
	{"GET", "/v1/status", ""},
	{"GET", "/v1/energy", ""},
	{"GET", "/health", ""},
	{"GET", "/metrics", ""},
	{"POST", "/v1/chat/completions", chatBody("")},
	{"POST", "/v1/chat/completions", chatBody(`"stream":true`)},
	{"POST", "/v1/chat/completions", `{}`},                                // 400
	{"POST", "/v1/chat/completions", chatBody(strings.Repeat(" ", 2048))}, // 413
	{"GET", "/v1/chat/completions", ""},                                   // 405
	{"GET", "/nope", ""},                                                  // 404
}

// An allowed origin (localhost on any port here) gets the CORS headers on every
// response, errors included, echoed rather than *.
func TestCORSAllowedOrigin(t *testing.T) {
	fb := newFakeBackend()
	e := newEnv(t, fb, func(c *Config) { c.MaxBodyBytes = 1024 })
	for _, origin := range []string{"http://localhost:5173", "http://127.0.0.1:3000", "https://[::1]:8443"} {
		for _, c := range everyEndpoint {
			r := e.doWith(c.method, c.path, c.body, map[string]string{"Origin": origin})
			what := fmt.Sprintf("%s %s (%d) from %s", c.method, c.path, r.status, origin)
			if got := r.header.Get("Access-Control-Allow-Origin"); got != origin {
				t.Errorf("%s: Access-Control-Allow-Origin %q", what, got)
			}
			if got := r.header.Get("Access-Control-Allow-Methods"); got != "GET, POST, PATCH, DELETE, OPTIONS" {
				t.Errorf("%s: Access-Control-Allow-Methods %q", what, got)
			}
			if !strings.Contains(strings.Join(r.header.Values("Vary"), ","), "Origin") {
				t.Errorf("%s: no Vary: Origin", what)
			}
		}
	}
}

// A page on another origin cannot drive the node: every request, preflights and
// "simple" requests that need none included, is refused before any handler runs.
// (Before: Access-Control-Allow-Origin: * and the chat ran.)
func TestForeignOriginIsRefused(t *testing.T) {
	fb := newFakeBackend()
	e := newEnv(t, fb)
	for _, c := range append(everyEndpoint, struct{ method, path, body string }{"OPTIONS", "/v1/chat/completions", ""}) {
		r := e.doWith(c.method, c.path, c.body, map[string]string{"Origin": "http://evil.example"})
		assertAPIError(t, c.method+" "+c.path, r, http.StatusForbidden, "forbidden_origin")
		if r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s %s: a refused origin got Access-Control-Allow-Origin", c.method, c.path)
		}
	}
	for _, o := range []string{"null", "http://localhost.evil.example", "http://127.0.0.1.evil.example", "file://"} {
		r := e.doWith("GET", "/v1/models", "", map[string]string{"Origin": o})
		assertAPIError(t, o, r, http.StatusForbidden, "forbidden_origin")
	}
	if n := len(fb.requests()); n != 0 {
		t.Fatalf("%d requests from a foreign origin reached the backend", n)
	}
}

func TestCORSOriginsWiden(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.Access.Origins = []string{"https://app.example", "http://lan.example:*"} })
	for origin, ok := range map[string]bool{
		"https://app.example": true, "https://app.example:444": false, "http://app.example": false,
		"http://lan.example:8080": true, "https://lan.example:8080": false, "http://evil.example": false,
	} {
		r := e.doWith("GET", "/v1/models", "", map[string]string{"Origin": origin})
		if ok && (r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != origin) {
			t.Errorf("%s: status %d ACAO %q, want allowed", origin, r.status, r.header.Get("Access-Control-Allow-Origin"))
		}
		if !ok && r.status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", origin, r.status)
		}
	}
	// "*" restores the API reference's header (documented as unsafe).
	e = newEnv(t, nil, func(c *Config) { c.Access.Origins = []string{"*"} })
	r := e.doWith("GET", "/v1/models", "", map[string]string{"Origin": "http://evil.example"})
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("with *: status %d ACAO %q", r.status, r.header.Get("Access-Control-Allow-Origin"))
	}
}

// The official OpenAI SDK in a browser preflights with its x-stainless-* headers:
// an allowed origin's preflight must allow them, or the SDK cannot call the node.
func TestPreflightAllowsTheSDKHeaders(t *testing.T) {
	fb := newFakeBackend()
	e := newEnv(t, fb)
	asked := "authorization, content-type, x-stainless-arch, x-stainless-lang, x-stainless-os, x-stainless-package-version, x-stainless-retry-count, x-stainless-runtime, x-stainless-runtime-version, x-stainless-timeout"
	r := e.doWith("OPTIONS", "/v1/chat/completions", "", map[string]string{
		"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": asked})
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("preflight: %d %q", r.status, r.body)
	}
	allowed := map[string]bool{}
	for _, h := range strings.Split(r.header.Get("Access-Control-Allow-Headers"), ",") {
		allowed[strings.ToLower(strings.TrimSpace(h))] = true
	}
	for _, h := range strings.Split(asked, ",") {
		if !allowed[strings.TrimSpace(h)] {
			t.Errorf("preflight does not allow %q (allowed: %s)", h, r.header.Get("Access-Control-Allow-Headers"))
		}
	}
	if r.header.Get("Access-Control-Max-Age") == "" {
		t.Error("no Access-Control-Max-Age")
	}
	if len(fb.requests()) != 0 {
		t.Error("a preflight reached the backend")
	}
}

// A JSON endpoint refuses a body that is not declared JSON: a text/plain POST is a
// "simple" request a page can send without a preflight.
func TestJSONBodiesNeedJSONContentType(t *testing.T) {
	fb := newFakeBackend()
	e := newEnv(t, fb)
	for _, ct := range []string{"text/plain", "", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx"} {
		r := e.doWith("POST", "/v1/chat/completions", chatBody(""), map[string]string{"Content-Type": ct})
		assertAPIError(t, "Content-Type "+ct, r, http.StatusUnsupportedMediaType, "unsupported_media_type")
		r = e.doWith("POST", "/v1/intentions", `{"content":"x"}`, map[string]string{"Content-Type": ct})
		if r.status != http.StatusUnsupportedMediaType {
			t.Errorf("intentions with %q: %d", ct, r.status)
		}
	}
	if n := len(fb.requests()); n != 0 {
		t.Fatalf("%d non-JSON requests reached the backend", n)
	}
	r := e.doWith("POST", "/v1/chat/completions", chatBody(""), map[string]string{"Content-Type": "application/json; charset=utf-8"})
	if r.status != 200 {
		t.Fatalf("application/json; charset=utf-8: %d %s", r.status, r.body)
	}
}

// A loopback-bound API answers loopback Host names only: a page on a rebound DNS
// name (evil.example resolving to 127.0.0.1) is refused.
func TestLoopbackAPIRefusesForeignHostNames(t *testing.T) {
	fb := newFakeBackend()
	e := newEnv(t, fb, func(c *Config) { c.Access.BindHost = "127.0.0.1" })
	for host, ok := range map[string]bool{
		"evil.example": false, "evil.example:3000": false, "localhost.evil.example": false,
		"localhost": true, "localhost:3000": true, "127.0.0.1:3000": true, "[::1]:3000": true, "app.localhost": true,
	} {
		r := e.doWith("POST", "/v1/chat/completions", chatBody(""), map[string]string{"Host": host})
		if ok && r.status != 200 {
			t.Errorf("Host %s: %d %s", host, r.status, r.body)
		}
		if !ok {
			assertAPIError(t, "Host "+host, r, http.StatusForbidden, "forbidden_host")
		}
	}
	if n := len(fb.requests()); n != 5 {
		t.Fatalf("%d requests reached the backend, want the 5 allowed ones", n)
	}
	e = newEnv(t, nil, func(c *Config) { c.Access.BindHost = "127.0.0.1"; c.Access.Hosts = []string{"aria.lan"} })
	if r := e.doWith("GET", "/v1/models", "", map[string]string{"Host": "aria.lan:3000"}); r.status != 200 {
		t.Fatalf("--allowed-hosts aria.lan: %d", r.status)
	}
	e = newEnv(t, nil, func(c *Config) { c.Access.BindHost = "0.0.0.0" })
	if r := e.doWith("GET", "/v1/models", "", map[string]string{"Host": "node.example"}); r.status != 200 {
		t.Fatalf("an API bound to all interfaces is reached by any name: %d", r.status)
	}
}

// A client that sends headers and then trickles (or never sends) its body is cut
// at the body deadline instead of holding a connection for ever.
func TestSlowBodyIsCut(t *testing.T) {
	fb := newFakeBackend()
	e := newEnv(t, fb, func(c *Config) { c.Timeouts.Body = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", e.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the server held the slow body past its deadline: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if len(fb.requests()) != 0 {
		t.Fatal("a partial body reached the backend")
	}
}

// endless streams big tokens until its ctx ends or a write fails, and reports when
// Generate returned.
type endless struct {
	*fakeBackend
	done chan error
}

func (b endless) Generate(ctx context.Context, req inference.Request, onToken func(inference.Token) error) (inference.Result, error) {
	tok := strings.Repeat("x", 4096)
	for i := 0; ; i++ {
		if err := onToken(inference.Token{ID: 1, Text: tok}); err != nil {
			b.done <- err
			return inference.Result{}, err
		}
		if ctx.Err() != nil {
			b.done <- ctx.Err()
			return inference.Result{}, ctx.Err()
		}
		if i > 1_000_000 {
			b.done <- nil
			return inference.Result{}, nil
		}
	}
}

// A stream nobody reads is cut at the write deadline; before, it held its
// goroutines and everything written for ever.
func TestUnreadStreamIsCut(t *testing.T) {
	b := endless{newFakeBackend(), make(chan error, 1)}
	e := newEnv(t, nil, func(c *Config) { c.Backend = b; c.Timeouts.Write = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", e.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	body := chatBody(`"stream":true`)
	fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	select {
	case err := <-b.done:
		if err == nil {
			t.Fatal("the whole endless stream was written to a client that reads nothing")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the generation still runs 30 s after the client stopped reading")
	}
}
