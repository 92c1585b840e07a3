package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aria-node/aria/inference"
)

// fakeBackend is a deterministic Backend: the handlers are tested in isolation here,
// the real engine is covered by the inference and e2e tests.
//
// Generate streams the configured tokens through onToken, then returns a Result built
// from them. It can fail with a configured error before token failAfter, park before
// token holdAt until ctx ends or release is closed, and pace tokens with delay.
type fakeBackend struct {
	mu           sync.Mutex
	models       []inference.ModelInfo
	tokens       []string
	finish       string
	promptTokens int
	failErr      error
	failAfter    int // index of the token before which failErr is returned; <0 or >len(tokens): after all tokens
	holdAt       int // <0: never park
	release      chan struct{}
	delay        time.Duration
	stats        inference.Stats
	// lockstep makes the n choices of a seeded request emit their tokens in turn
	// (choice = seed - lockBase), so a stream interleaves them deterministically.
	lockstep int
	lockBase uint64
	turns    []chan struct{}

	reqs       []inference.Request
	generating chan struct{} // closed when some Generate is parked at holdAt
	parkOnce   sync.Once
	cancelled  chan struct{} // closed once a Generate has seen its ctx end
	cancelOnce sync.Once
	returned   chan struct{} // closed once a Generate that saw cancellation has returned
	retOnce    sync.Once
}

var testLoadedAt = time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)

func testModel(id string) inference.ModelInfo {
	return inference.ModelInfo{
		ID: id, Path: "/models/" + id + ".gguf", Architecture: "bitnet", Parameters: 2_000_000_000,
		FileSize: 1 << 30, QuantTypes: []string{"I2_S", "F16"}, VocabSize: 32000, ContextLength: 4096,
		SlotContext: 2048, Slots: 4, LoadedAt: testLoadedAt,
	}
}

func newFakeBackend() *fakeBackend {
	syn := testModel("aria-tiny-synthetic")
	syn.Synthetic = true
	syn.Architecture = "bitnet-synthetic"
	syn.Parameters = 10_000_000
	syn.QuantTypes = []string{"I2_S"}
	syn.SlotContext = 512
	return &fakeBackend{
		models:       []inference.ModelInfo{testModel("aria-2b-1bit"), syn},
		tokens:       []string{"Once", " upon", " a", " time"},
		finish:       inference.FinishStop,
		promptTokens: 25,
		failAfter:    -1,
		holdAt:       -1,
		stats:        inference.Stats{ActiveSlots: 2, TotalSlots: 4, Queued: 3, QueueSize: 16},
		generating:   make(chan struct{}),
		cancelled:    make(chan struct{}),
		returned:     make(chan struct{}),
	}
}

func (f *fakeBackend) Models() []inference.ModelInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]inference.ModelInfo(nil), f.models...)
}

func (f *fakeBackend) Stats() inference.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

func (f *fakeBackend) requests() []inference.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]inference.Request(nil), f.reqs...)
}

// sawCancel records that a Generate observed its ctx end and returns ctx.Err().
func (f *fakeBackend) sawCancel(ctx context.Context, res inference.Result) (inference.Result, error) {
	f.cancelOnce.Do(func() { close(f.cancelled) })
	defer f.retOnce.Do(func() { close(f.returned) })
	return res, ctx.Err()
}

func (f *fakeBackend) Generate(ctx context.Context, req inference.Request, onToken func(inference.Token) error) (inference.Result, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	tokens := append([]string(nil), f.tokens...)
	finish, prompt, failErr, failAfter := f.finish, f.promptTokens, f.failErr, f.failAfter
	holdAt, release, delay := f.holdAt, f.release, f.delay
	var myTurn, nextTurn chan struct{}
	if f.lockstep > 1 {
		if f.turns == nil {
			f.turns = make([]chan struct{}, f.lockstep)
			for i := range f.turns {
				f.turns[i] = make(chan struct{}, 1)
			}
			f.turns[0] <- struct{}{}
		}
		c := int(req.Sampling.Seed - f.lockBase)
		myTurn, nextTurn = f.turns[c], f.turns[(c+1)%f.lockstep]
	}
	f.mu.Unlock()

	res := inference.Result{PromptTokens: prompt}
	var text strings.Builder
	for i := 0; ; i++ {
		if failErr != nil && i == failAfter {
			res.Text, res.FinishReason = text.String(), ""
			return res, failErr
		}
		if i == len(tokens) {
			break
		}
		if i == holdAt {
			f.parkOnce.Do(func() { close(f.generating) })
			select {
			case <-ctx.Done():
				return f.sawCancel(ctx, res)
			case <-release:
			}
		}
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return f.sawCancel(ctx, res)
			case <-t.C:
			}
		}
		if myTurn != nil {
			select {
			case <-ctx.Done():
				return f.sawCancel(ctx, res)
			case <-myTurn:
			}
		}
		if ctx.Err() != nil {
			return f.sawCancel(ctx, res)
		}
		err := onToken(inference.Token{ID: int32(i + 1), Text: tokens[i]})
		if nextTurn != nil {
			nextTurn <- struct{}{}
		}
		if err != nil {
			if ctx.Err() != nil {
				return f.sawCancel(ctx, res)
			}
			return res, err
		}
		text.WriteString(tokens[i])
		res.CompletionTokens++
	}
	if failErr != nil && (failAfter < 0 || failAfter > len(tokens)) {
		return res, failErr
	}
	res.Text, res.FinishReason = text.String(), finish
	return res, nil
}

// fakeNode is the NodeInfo behind /health and /v1/status.
type fakeNode struct {
	running atomic.Bool
	kernel  string
}

func (n *fakeNode) NodeID() string        { return "12D3KooWTestNodeAria" }
func (n *fakeNode) NodeURI() string       { return "ws://127.0.0.1:8765" }
func (n *fakeNode) Uptime() time.Duration { return 3600 * time.Second }
func (n *fakeNode) Running() bool         { return n.running.Load() }
func (n *fakeNode) KernelPath() string    { return n.kernel }

// fakeEnergy reports a fixed /v1/energy.
type fakeEnergy struct{ e Energy }

func (f fakeEnergy) Energy() Energy { return f.e }

func testEnergy() Energy {
	return Energy{
		SessionUptimeSeconds: 3600, TotalInferences: 42, TotalTokensGenerated: 2100,
		TotalEnergyMJ: 1176, TotalEnergyKWh: 0.000327, AvgEnergyPerTokenMJ: 0.56,
		Savings: EnergySavings{
			VsGPU:      EnergySaving{EnergySavedMJ: 11812500, EnergySavedKWh: 3.28, ReductionPercent: 99.99},
			VsCloud:    EnergySaving{EnergySavedMJ: 14698824, EnergySavedKWh: 4.08, ReductionPercent: 99.99},
			CO2SavedKg: 1.64, CostSavedUSD: 0.027,
		},
		RecentHistory: []EnergyRecord{{Timestamp: 1706745600.5, EnergyMJ: 28, Tokens: 50, Model: "aria-2b-1bit"}},
		Method:        "rapl",
		References:    &EnergyReferences{GPUMJPerToken: 5625, CloudMJPerToken: 7000, CO2KgPerKWh: 0.5, CloudUSDPerToken: 0.000015, LocalUSDPerToken: 0.000002},
		Lifetime: &EnergyLifetime{Since: "2026-01-01T00:00:00Z", TotalInferences: 100, TotalTokensGenerated: 5000, TotalEnergyMJ: 2800,
			TotalEnergyKWh: 2800 / 3.6e9, AvgEnergyPerTokenMJ: 0.56,
			ByMethod: map[string]EnergyMethodTotals{"rapl": {Inferences: 100, Tokens: 5000, EnergyMJ: 2800}}},
	}
}

// env is one server under test with its fakes.
type env struct {
	t       *testing.T
	backend *fakeBackend
	node    *fakeNode
	srv     *Server
	reg     *prometheus.Registry
	ts      *httptest.Server
}

type envOption func(*Config)

func newEnv(t *testing.T, fb *fakeBackend, opts ...envOption) *env {
	t.Helper()
	if fb == nil {
		fb = newFakeBackend()
	}
	node := &fakeNode{kernel: "/usr/local/bin/aria"}
	node.running.Store(true)
	reg := prometheus.NewRegistry()
	cfg := Config{Backend: fb, Node: node, Energy: fakeEnergy{testEnergy()}, Version: "0.5.5",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: reg}
	for _, o := range opts {
		o(&cfg)
	}
	s := NewServer(cfg)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return &env{t: t, backend: fb, node: node, srv: s, reg: reg, ts: ts}
}

// response is a fully read HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) do(method, path, body string) response {
	e.t.Helper()
	return doRequest(e.t, e.ts.Client(), method, e.ts.URL+path, body)
}

func doRequest(t *testing.T, c *http.Client, method, url, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatalf("new request %s %s: %v", method, url, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer aria")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *env) chat(body string) response {
	e.t.Helper()
	return e.do(http.MethodPost, "/v1/chat/completions", body)
}

// chatBody is a valid request with extra top-level fields spliced in (a JSON object's
// members without braces, e.g. `"stream":true`).
func chatBody(extra string) string {
	b := `{"model":"aria-2b-1bit","messages":[{"role":"user","content":"Tell me a story"}]`
	if extra != "" {
		b += "," + extra
	}
	return b + "}"
}

// decodeObject decodes b as one JSON object with numbers kept exact.
func decodeObject(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, b)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		t.Fatalf("response holds more than one JSON value: %s", b)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("response is not a JSON object: %s", b)
	}
	return m
}

// assertErrorBody checks that b is exactly {"error":{"message","type","code"}}, all
// non-empty strings, and returns the error object.
func assertErrorBody(t *testing.T, b []byte) ErrorBody {
	t.Helper()
	m := decodeObject(t, b)
	if len(m) != 1 {
		t.Fatalf("error body has keys %v, want exactly [error]: %s", keys(m), b)
	}
	inner, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("error body's error is not an object: %s", b)
	}
	want := []string{"code", "message", "type"}
	if got := keys(inner); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("error object has keys %v, want %v: %s", got, want, b)
	}
	var out ErrorBody
	for _, k := range want {
		s, ok := inner[k].(string)
		if !ok || s == "" {
			t.Fatalf("error.%s must be a non-empty string: %s", k, b)
		}
		switch k {
		case "message":
			out.Message = s
		case "type":
			out.Type = s
		case "code":
			out.Code = s
		}
	}
	return out
}

// sseEvent is one `data: <payload>` event.
type sseEvent struct {
	raw  string
	json map[string]any // nil for [DONE]
}

// parseSSE splits a complete event-stream body strictly: every event must be exactly
// "data: <one line>\n\n" and nothing may precede, follow or sit between events.
func parseSSE(t *testing.T, body []byte) []sseEvent {
	t.Helper()
	var evs []sseEvent
	rest := string(body)
	for i := 0; rest != ""; i++ {
		if i > 10000 {
			t.Fatalf("too many events")
		}
		if !strings.HasPrefix(rest, "data: ") {
			t.Fatalf("event %d does not start with \"data: \": %q", i, rest)
		}
		end := strings.Index(rest, "\n\n")
		if end < 0 {
			t.Fatalf("event %d is not terminated by a blank line: %q", i, rest)
		}
		payload := rest[len("data: "):end]
		if strings.ContainsAny(payload, "\r\n") {
			t.Fatalf("event %d payload spans lines: %q", i, payload)
		}
		ev := sseEvent{raw: payload}
		if payload != "[DONE]" {
			ev.json = decodeObject(t, []byte(payload))
		}
		evs = append(evs, ev)
		rest = rest[end+2:]
	}
	return evs
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// waitClosed waits for ch to close, failing the test after a generous bound.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}
