package ares

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/aria-node/aria/agents"
	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/internal/testhttp"
	"github.com/aria-node/aria/openai"
	"github.com/aria-node/aria/rag"
	"github.com/aria-node/aria/storage/bolt"
	"github.com/aria-node/aria/tenancy"
)

// The OpenAI handlers are the real ones; the backend behind them is scripted so the
// access layer's accounting can be checked exactly (e2e/ covers the real kernel).
type scriptBackend struct {
	mu      sync.Mutex
	prompt  int
	tokens  int
	delay   time.Duration
	failErr error
	emitted atomic.Int64 // tokens handed to the handler, over all calls
	calls   atomic.Int64
	done    chan struct{} // receives after every Generate returns
}

func newScript() *scriptBackend {
	return &scriptBackend{prompt: 7, tokens: 5, done: make(chan struct{}, 1024)}
}

func (b *scriptBackend) set(fn func(*scriptBackend)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fn(b)
}

func (b *scriptBackend) Models() []inference.ModelInfo {
	return []inference.ModelInfo{{ID: "tiny", Architecture: "bitnet", SlotContext: 4096, Slots: 64, ContextLength: 4096}}
}

func (b *scriptBackend) Stats() inference.Stats {
	return inference.Stats{TotalSlots: 64, QueueSize: 64}
}

func (b *scriptBackend) Generate(ctx context.Context, req inference.Request, onToken func(inference.Token) error) (inference.Result, error) {
	b.calls.Add(1)
	defer func() { b.done <- struct{}{} }()
	b.mu.Lock()
	prompt, n, delay, failErr := b.prompt, b.tokens, b.delay, b.failErr
	b.mu.Unlock()
	if failErr != nil {
		return inference.Result{}, failErr
	}
	n = min(n, req.MaxTokens)
	for i := range n {
		if delay > 0 {
			select {
			case <-ctx.Done():
				// As the local engine: what was consumed, the prompt once a token came out.
				res := inference.Result{CompletionTokens: i}
				if i > 0 {
					res.PromptTokens = prompt
				}
				return res, ctx.Err()
			case <-time.After(delay):
			}
		}
		if err := onToken(inference.Token{ID: int32(i), Text: "tok "}); err != nil {
			return inference.Result{}, err
		}
		b.emitted.Add(1)
	}
	return inference.Result{Text: strings.Repeat("tok ", n), FinishReason: "length", PromptTokens: prompt, CompletionTokens: n}, nil
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

const adminSecret = "test-admin-secret-0123456789abcdef"

var jwtSecret = []byte("test-jwt-secret-0123456789abcdef0123")

type env struct {
	t       *testing.T
	clock   *fakeClock
	backend *scriptBackend
	svc     *tenancy.Service
	store   tenancy.Store
	db      *bbolt.DB
	ts      *httptest.Server
}

type envOpts struct {
	open    bool
	ipLimit int
	store   tenancy.Store
	rag     *rag.Service
	// agents, when set, builds the agents service (chat, agents, workflows).
	agents    func(e *env) *agents.Service
	keepAlive time.Duration
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	e := &env{t: t, clock: &fakeClock{now: time.Date(2026, 3, 13, 10, 0, 0, 0, time.UTC)}, backend: newScript()}
	if o.store == nil {
		db := tempBolt(t)
		st, err := bolt.NewTenancyStore(db)
		if err != nil {
			t.Fatal(err)
		}
		e.db, o.store = db, st
	}
	e.store = o.store
	e.ts = e.serve(o)
	return e
}

// tempBolt opens a new bbolt database in t's temp dir, closed when t ends.
func tempBolt(t testing.TB) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "aria.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// serve starts one gateway over the env's store (several may share it).
func (e *env) serve(o envOpts) *httptest.Server {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := tenancy.NewService(e.store, tenancy.Options{Now: e.clock.Now, Logger: log, JWTSecret: jwtSecret, BcryptCost: 4})
	if e.svc == nil {
		e.svc = svc
	}
	var ag *agents.Service
	if o.agents != nil {
		ag = o.agents(e)
	}
	p := New(Config{Service: svc, Required: !o.open, AdminSecret: adminSecret, IPRequestsPerMinute: o.ipLimit, Logger: log, Agents: ag, KeepAlive: o.keepAlive, RAG: o.rag})
	srv := openai.NewServer(openai.Config{Backend: e.backend, Version: "test", Logger: log, Platform: p.Wrap})
	ts := httptest.NewServer(srv.Handler())
	e.t.Cleanup(ts.Close)
	return ts
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("not JSON (%d): %s", r.status, r.body)
	}
	return m
}

// errMsg is the ARES error message, or OpenAI's error.message.
func (r resp) errMsg(t *testing.T) string {
	m := r.json(t)
	switch v := m["error"].(type) {
	case string:
		return v
	case map[string]any:
		s, _ := v["message"].(string)
		return s
	}
	t.Fatalf("no error in %s", r.body)
	return ""
}

func (e *env) req(method, path, body string, hdr ...string) resp {
	e.t.Helper()
	return doReq(e.t, e.ts.URL, method, path, body, hdr...)
}

func doReq(t *testing.T, base, method, path, body string, hdr ...string) resp {
	t.Helper()
	code, b, h := testhttp.Do(t, method, base+path, body, hdr...)
	return resp{status: code, header: h, body: b}
}

func (e *env) admin(method, path, body string) resp {
	e.t.Helper()
	return e.req(method, path, body, "X-Admin-Secret", adminSecret)
}

func (e *env) withKey(key, method, path, body string, hdr ...string) resp {
	e.t.Helper()
	return e.req(method, path, body, append([]string{"Authorization", "Bearer " + key}, hdr...)...)
}

func want(t *testing.T, r resp, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
}

// tenant provisions a tenant and returns its id and key.
func (e *env) tenant(name, tier string) (string, string) {
	e.t.Helper()
	r := e.admin("POST", "/api/admin/tenants", `{"name":"`+name+`","tier":"`+tier+`"}`)
	want(e.t, r, 201)
	id := r.json(e.t)["id"].(string)
	r = e.admin("POST", "/api/admin/tenants/"+id+"/api-keys", `{"name":"main"}`)
	want(e.t, r, 201)
	return id, r.json(e.t)["raw_key"].(string)
}

const chatBody = `{"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":50}`

func (e *env) chat(key string, hdr ...string) resp {
	e.t.Helper()
	return e.withKey(key, "POST", "/v1/chat/completions", chatBody, hdr...)
}

// usage reads /v1/usage.
func (e *env) usage(key string) map[string]any {
	e.t.Helper()
	r := e.withKey(key, "GET", "/v1/usage", "")
	want(e.t, r, 200)
	return r.json(e.t)
}

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

// sse reads a stream's data events until n are read, then cancels.
func readEvents(t *testing.T, res *http.Response, n int) int {
	t.Helper()
	sc := bufio.NewScanner(res.Body)
	got := 0
	for sc.Scan() && got < n {
		if strings.HasPrefix(sc.Text(), "data: {") {
			got++
		}
	}
	return got
}

var errBoom = errors.New("engine exploded")
