package openai

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/aria-node/aria/inference"
)

func TestNonStreamChoices(t *testing.T) {
	fb := newFakeBackend()
	e := newEnv(t, fb)
	r := e.chat(chatBody(`"n":3,"seed":42,"max_tokens":7,"stop":["\n\n","END"]`))
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var c ChatCompletion
	if err := jsonUnmarshalStrict(r.body, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Choices) != 3 {
		t.Fatalf("%d choices, want 3", len(c.Choices))
	}
	for i, ch := range c.Choices {
		if ch.Index != i || ch.Message.Role != "assistant" || ch.Message.Content == nil || *ch.Message.Content != "Once upon a time" || ch.FinishReason != "stop" {
			t.Errorf("choice %d: %+v", i, ch)
		}
	}
	if c.Usage != (Usage{PromptTokens: 25, CompletionTokens: 12, TotalTokens: 37}) {
		t.Errorf("usage %+v, want prompt 25 (counted once), completion 3*4", c.Usage)
	}
	reqs := fb.requests()
	seeds := map[uint64]bool{}
	for _, q := range reqs {
		seeds[q.Sampling.Seed] = true
		if q.Model != "aria-2b-1bit" || q.MaxTokens != 7 || q.Sampling.RandomSeed ||
			fmt.Sprint(q.Stop) != fmt.Sprint([]string{"\n\n", "END"}) ||
			len(q.Messages) != 1 || q.Messages[0] != (inference.Message{Role: "user", Content: "Tell me a story"}) {
			t.Errorf("backend got %+v", q)
		}
	}
	if len(reqs) != 3 || !seeds[42] || !seeds[43] || !seeds[44] {
		t.Errorf("seeds %v over %d calls, want 42, 43, 44", seeds, len(reqs))
	}
}

func TestHeadServesGet(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do("HEAD", "/v1/models", "")
	if r.status != http.StatusOK || len(r.body) != 0 {
		t.Errorf("HEAD /v1/models: %d %q", r.status, r.body)
	}
}

func TestHealthAndStatus(t *testing.T) {
	fb := newFakeBackend()
	e := newEnv(t, fb)
	h := decodeObject(t, e.do("GET", "/health", "").body)
	if h["status"] != "healthy" {
		t.Errorf("health %v", h)
	}
	e.node.running.Store(false)
	r := e.do("GET", "/health", "")
	h = decodeObject(t, r.body)
	node := h["node"].(map[string]any)
	if r.status != http.StatusServiceUnavailable || h["status"] != "degraded" || node["is_running"] != false || node["status"] != "unhealthy" {
		t.Errorf("stopped node: %d %s", r.status, r.body)
	}
	st := decodeObject(t, e.do("GET", "/v1/status", "").body)
	if st["backend"] != "native" || st["llama_cli_available"] != true || st["llama_cli_path"] != "/usr/local/bin/aria" ||
		fmt.Sprint(st["models_count"]) != "2" || fmt.Sprint(st["queued"]) != "3" {
		t.Errorf("status %v", st)
	}
	fb.mu.Lock()
	fb.models = nil
	fb.mu.Unlock()
	st = decodeObject(t, e.do("GET", "/v1/status", "").body)
	if st["backend"] != "unavailable" || st["llama_cli_available"] != false || st["llama_cli_path"] != "" {
		t.Errorf("status without models %v", st)
	}
}

// --- metrics ---

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$`)
var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

type sample struct {
	name   string
	labels map[string]string
	value  float64
}

func scrape(t *testing.T, e *env) []sample {
	t.Helper()
	r := e.do("GET", "/metrics", "")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %q", r.status, r.header.Get("Content-Type"))
	}
	var out []sample
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("unparsable metrics line %q", line)
		}
		v, err := strconv.ParseFloat(m[4], 64)
		if err != nil {
			t.Fatalf("bad value in %q", line)
		}
		s := sample{name: m[1], labels: map[string]string{}, value: v}
		for _, p := range labelPair.FindAllStringSubmatch(m[3], -1) {
			s.labels[p[1]] = p[2]
		}
		out = append(out, s)
	}
	return out
}

// value returns the sample named name whose labels include want; found reports presence.
func value(ss []sample, name string, want map[string]string) (float64, bool) {
	for _, s := range ss {
		if s.name != name {
			continue
		}
		ok := true
		for k, v := range want {
			if s.labels[k] != v {
				ok = false
			}
		}
		if ok {
			return s.value, true
		}
	}
	return 0, false
}

func TestMetrics(t *testing.T) {
	fb := newFakeBackend()
	e := newEnv(t, fb)
	const chat = "/v1/chat/completions"
	e.chat(chatBody(""))
	e.chat(chatBody(`"stream":true`))
	e.chat(chatBody(`"n":2`))
	e.chat(`{"model":"gpt-4","messages":[{"role":"user","content":"x"}]}`) // 404
	e.chat(`{}`)                                                           // 400
	e.do("GET", "/v1/models/secret-model-name", "")                        // 404
	e.do("GET", "/v1/nope/unique-path-123", "")                            // 404
	e.do("GET", "/v1/models", "")

	ss := scrape(t, e)
	for _, c := range []struct {
		endpoint, code string
		want           float64
	}{
		{chat, "200", 3},
		{chat, "404", 1},
		{chat, "400", 1},
		{"/v1/models", "200", 1},
	} {
		got, ok := value(ss, "aria_http_requests_total", map[string]string{"endpoint": c.endpoint, "code": c.code})
		if !ok || got != c.want {
			t.Errorf("aria_http_requests_total{endpoint=%q,code=%q} = %v (present %v), want %v", c.endpoint, c.code, got, ok, c.want)
		}
	}
	notFound := 0.0
	for _, s := range ss {
		if s.name != "aria_http_requests_total" {
			continue
		}
		if _, ok := s.labels["endpoint"]; !ok {
			t.Errorf("request series without endpoint label: %v", s.labels)
		}
		if strings.Contains(s.labels["endpoint"], "secret-model-name") || strings.Contains(s.labels["endpoint"], "unique-path-123") {
			t.Errorf("endpoint label carries a raw path (unbounded cardinality): %v", s.labels)
		}
		if s.labels["code"] == "404" && s.labels["endpoint"] != chat {
			notFound += s.value
		}
	}
	if notFound != 2 {
		t.Errorf("%v 404s counted outside chat, want 2", notFound)
	}

	// Four successful generations (1 + 1 streamed + 2 choices) of 25 prompt and 4 completion tokens.
	model := map[string]string{"model": "aria-2b-1bit"}
	if v, ok := value(ss, "aria_prompt_tokens_total", model); !ok || v != 100 {
		t.Errorf("aria_prompt_tokens_total = %v (present %v), want 100", v, ok)
	}
	if v, ok := value(ss, "aria_completion_tokens_total", model); !ok || v != 16 {
		t.Errorf("aria_completion_tokens_total = %v (present %v), want 16", v, ok)
	}
	if v, ok := value(ss, "aria_time_to_first_token_seconds_count", nil); !ok || v != 4 {
		t.Errorf("aria_time_to_first_token_seconds_count = %v (present %v), want 4", v, ok)
	}
	if v, ok := value(ss, "aria_token_latency_seconds_count", nil); !ok || v != 12 {
		t.Errorf("aria_token_latency_seconds_count = %v (present %v), want 4*3", v, ok)
	}
	for _, name := range []string{"aria_time_to_first_token_seconds_sum", "aria_token_latency_seconds_sum"} {
		if _, ok := value(ss, name, nil); !ok {
			t.Errorf("%s missing", name)
		}
	}
	if _, ok := value(ss, "aria_time_to_first_token_seconds_bucket", map[string]string{"le": "+Inf"}); !ok {
		t.Errorf("aria_time_to_first_token_seconds has no +Inf bucket")
	}
	if v, ok := value(ss, "aria_queue_depth", nil); !ok || v != 3 {
		t.Errorf("aria_queue_depth = %v (present %v), want 3", v, ok)
	}
	if v, ok := value(ss, "aria_active_slots", nil); !ok || v != 2 {
		t.Errorf("aria_active_slots = %v (present %v), want 2", v, ok)
	}

	// Gauges are live, and failed generations add no tokens.
	fb.mu.Lock()
	fb.stats.Queued, fb.stats.ActiveSlots = 7, 4
	fb.failErr, fb.failAfter = inference.ErrBusy, 0
	fb.mu.Unlock()
	if r := e.chat(chatBody("")); r.status != 503 {
		t.Fatalf("busy: %d", r.status)
	}
	ss = scrape(t, e)
	if v, _ := value(ss, "aria_queue_depth", nil); v != 7 {
		t.Errorf("aria_queue_depth = %v after the backend changed, want 7", v)
	}
	if v, _ := value(ss, "aria_active_slots", nil); v != 4 {
		t.Errorf("aria_active_slots = %v after the backend changed, want 4", v)
	}
	if v, _ := value(ss, "aria_prompt_tokens_total", model); v != 100 {
		t.Errorf("aria_prompt_tokens_total = %v after a failed request, want still 100", v)
	}
	if v, ok := value(ss, "aria_http_requests_total", map[string]string{"endpoint": chat, "code": "503"}); !ok || v != 1 {
		t.Errorf("503 not counted: %v %v", v, ok)
	}
}

// jsonUnmarshalStrict decodes b into v, failing on fields v does not have.
func jsonUnmarshalStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func TestEnergyHistoryNeverNull(t *testing.T) {
	en := testEnergy()
	en.RecentHistory, en.Lifetime, en.References = nil, nil, nil
	e := newEnv(t, nil, func(c *Config) { c.Energy = fakeEnergy{en} })
	r := e.do("GET", "/v1/energy", "")
	m := decodeObject(t, r.body)
	if h, ok := m["recent_history"].([]any); !ok || len(h) != 0 {
		t.Errorf("recent_history = %v, want []", m["recent_history"])
	}
	if _, ok := m["lifetime"]; ok {
		t.Errorf("lifetime present without lifetime totals")
	}
	assertShape(t, "energy", loadSpec(t, "energy"), m, map[string]string{"method": "string"})
}
