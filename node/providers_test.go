package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aria-node/aria/agents"
	"github.com/aria-node/aria/consent"
	"github.com/aria-node/aria/internal/testhttp"
	"github.com/aria-node/aria/openai"
	"github.com/aria-node/aria/providers"
	"github.com/aria-node/aria/providers/upstreamtest"
)

const tinyModel = "aria-tiny-1bit"

// providersNode starts a node (tiny model, one thread) with an upstream "up" serving
// big (tier powerful) and fast-up (tier fast), fast-local (the kernel, tier fast), and
// its API with the platform layer on an httptest server, as Start wires it.
func providersNode(t testing.TB, up *upstreamtest.Server, mod func(*Config)) (*Node, *httptest.Server) {
	t.Helper()
	t.Setenv("ARIA_TEST_UP_KEY", "sk-never-logged")
	t.Setenv("ARIA_ADMIN_SECRET", "admin-secret-for-tests")
	n := startTestNode(t, t.TempDir(), func(c *Config) {
		c.Providers = providers.Config{
			Providers: []providers.ProviderConfig{{Name: "up", APIBase: up.BaseURL(), APIKeyEnv: "ARIA_TEST_UP_KEY", TimeoutSeconds: 2,
				Models: []providers.ProviderModel{{ID: "up-large", Name: "big", Tier: "powerful", ContextLength: 32768}}}},
			Models: []providers.Model{
				{Name: "fast-up", Provider: "up", ModelID: "up-small", Tier: "fast"},
				{Name: "fast-local", Provider: "local", ModelID: tinyModel, Tier: "fast"},
			},
		}
		if mod != nil {
			mod(c)
		}
	})
	api := openai.NewServer(n.apiConfig())
	n.apiInner = api.Inner()
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return n, srv
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("not JSON (%v): %s", err, r.body)
	}
	return m
}

func call(t *testing.T, srv *httptest.Server, method, path, body string, header ...string) reply {
	t.Helper()
	code, b, h := testhttp.Do(t, method, srv.URL+path, body, header...)
	return reply{code, h, b}
}

func chatBody(model string, stream bool, extra string) string {
	return `{"model":"` + model + `","max_tokens":8,"temperature":0,"stream":` + map[bool]string{true: "true", false: "false"}[stream] +
		`,"messages":[{"role":"user","content":"hello there"}]` + extra + `}`
}

// sseContent joins the content deltas of an SSE body and returns the usage chunk's usage.
func sseContent(t *testing.T, body []byte) (string, *openai.Usage, []string) {
	t.Helper()
	var sb strings.Builder
	var usage *openai.Usage
	var finishes []string
	for _, ev := range strings.Split(string(body), "\n\n") {
		data, ok := strings.CutPrefix(strings.TrimSpace(ev), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var c openai.ChatCompletionChunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("event %q: %v", data, err)
		}
		if c.Usage != nil {
			usage = c.Usage
		}
		for _, ch := range c.Choices {
			sb.WriteString(ch.Delta.Content)
			if ch.FinishReason != nil {
				finishes = append(finishes, *ch.FinishReason)
			}
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(string(body)), "data: [DONE]") {
		t.Fatalf("stream does not end with [DONE]: %s", body)
	}
	return sb.String(), usage, finishes
}

func TestUpstreamModelsOnTheOpenAIEndpoints(t *testing.T) {
	up := upstreamtest.Start(t)
	_, srv := providersNode(t, up, nil)

	r := call(t, srv, "GET", "/v1/models", "")
	ids := map[string]map[string]any{}
	for _, m := range r.json(t)["data"].([]any) {
		mm := m.(map[string]any)
		ids[mm["id"].(string)] = mm
	}
	if ids[tinyModel] == nil || ids["big"] == nil || ids["fast-up"] == nil || ids["big"]["owned_by"] != "up" || ids["big"]["root"] != "up-large" {
		t.Fatalf("/v1/models: %s", r.body)
	}
	if r := call(t, srv, "GET", "/v1/models/big", ""); r.status != 200 {
		t.Fatalf("/v1/models/big: %d %s", r.status, r.body)
	}

	// Not streamed: the upstream gets its own model id and the key from the environment.
	up.Enqueue(upstreamtest.Reply{Content: "upstream says hi"})
	r = call(t, srv, "POST", "/v1/chat/completions", chatBody("big", false, ""))
	if r.status != 200 {
		t.Fatalf("chat: %d %s", r.status, r.body)
	}
	var comp openai.ChatCompletion
	json.Unmarshal(r.body, &comp)
	if comp.Model != "big" || *comp.Choices[0].Message.Content != "upstream says hi" || comp.Usage.TotalTokens != 2+3 {
		t.Fatalf("completion %s", r.body)
	}
	got := up.Requests()[len(up.Requests())-1]
	if got.Chat.Model != "up-large" || got.Authorization != "Bearer sk-never-logged" || got.Chat.MaxTokens != 8 || got.Chat.Messages[0].Content != "hello there" {
		t.Fatalf("upstream received %+v", got)
	}
	if strings.Contains(string(got.Body), "task_type") {
		t.Fatalf("aria's extension sent upstream: %s", got.Body)
	}

	// Streamed, with usage.
	up.Enqueue(upstreamtest.Reply{Content: "one two three"})
	r = call(t, srv, "POST", "/v1/chat/completions", chatBody("big", true, `,"stream_options":{"include_usage":true}`))
	text, usage, fin := sseContent(t, r.body)
	if r.status != 200 || text != "one two three" || usage == nil || usage.CompletionTokens != 3 || len(fin) != 1 || fin[0] != "stop" {
		t.Fatalf("stream: %d %q %+v %v", r.status, text, usage, fin)
	}

	// Tool calls come back in OpenAI's shape.
	call1 := providers.ToolCall{ID: "call_9", Type: "function", Function: providers.ToolCallFunction{Name: "calculator", Arguments: `{"expression":"1+1"}`}}
	up.Enqueue(upstreamtest.Reply{ToolCalls: []providers.ToolCall{call1}})
	tools := `,"tools":[{"type":"function","function":{"name":"calculator","parameters":{"type":"object","properties":{"expression":{"type":"string"}}}}}]`
	r = call(t, srv, "POST", "/v1/chat/completions", chatBody("big", false, tools))
	json.Unmarshal(r.body, &comp)
	if r.status != 200 || comp.Choices[0].FinishReason != "tool_calls" || comp.Choices[0].Message.ToolCalls[0].Function.Arguments != call1.Function.Arguments || comp.Choices[0].Message.Content != nil {
		t.Fatalf("tool call: %d %s", r.status, r.body)
	}
	if got := up.ChatRequests(); got[len(got)-1].Tools[0].Function.Name != "calculator" {
		t.Fatalf("tools not sent upstream: %+v", got[len(got)-1])
	}
}

func TestUpstreamFailuresOnChatCompletions(t *testing.T) {
	up := upstreamtest.Start(t)
	_, srv := providersNode(t, up, nil)
	for _, tc := range []struct {
		reply  upstreamtest.Reply
		status int
		code   string
	}{
		{upstreamtest.Reply{Status: 429, RetryAfter: "7"}, 429, "rate_limit_exceeded"},
		{upstreamtest.Reply{Status: 500}, 502, "upstream_error"},
		{upstreamtest.Reply{Body: "<html>"}, 502, "upstream_error"},
		{upstreamtest.Reply{Hang: true}, 504, "upstream_timeout"},
		{upstreamtest.Reply{Endless: true}, 504, "upstream_timeout"},
	} {
		for _, stream := range []bool{false, true} {
			up.Enqueue(tc.reply)
			r := call(t, srv, "POST", "/v1/chat/completions", chatBody("big", stream, ""))
			if !stream && tc.reply.Endless {
				// A body that never ends is cut at the size limit or the deadline, whichever comes first.
				if r.status != 502 && r.status != 504 || !strings.Contains(string(r.body), "larger than") && !strings.Contains(string(r.body), "upstream_timeout") {
					t.Fatalf("endless body: %d %s", r.status, r.body)
				}
				continue
			}
			if stream && tc.reply.Endless {
				// The stream had begun: the error is the stream's last event.
				if r.status != 200 || !strings.Contains(string(r.body), `"code":"upstream_timeout"`) {
					t.Fatalf("endless stream: %d %s", r.status, r.body)
				}
				continue
			}
			var e openai.ErrorResponse
			if json.Unmarshal(r.body, &e); r.status != tc.status || e.Error.Code != tc.code {
				t.Fatalf("%+v stream=%v: %d %s", tc.reply, stream, r.status, r.body)
			}
			if tc.status == 429 && (e.Error.Type != "rate_limit_error" || r.header.Get("Retry-After") != "7" || e.Error.Message != "Rate limit exceeded for provider 'up'") {
				t.Fatalf("429: %v %s", r.header, r.body)
			}
		}
	}
	// A tier with no model says so.
	r := call(t, srv, "POST", "/v1/chat/completions", chatBody("deepseek", false, ""))
	if r.status != 404 || !strings.Contains(string(r.body), "no model is configured for tier 'deepseek'") {
		t.Fatalf("empty tier: %d %s", r.status, r.body)
	}
}

func TestTierFallsBackToTheLocalKernel(t *testing.T) {
	up := upstreamtest.Start(t)
	_, srv := providersNode(t, up, nil)
	for _, stream := range []bool{false, true} {
		up.Enqueue(upstreamtest.Reply{Status: 429, RetryAfter: "30"})
		r := call(t, srv, "POST", "/v1/chat/completions", chatBody("fast", stream, ""))
		if r.status != 200 {
			t.Fatalf("fast tier after a 429: %d %s", r.status, r.body)
		}
		if stream {
			if text, _, _ := sseContent(t, r.body); text == "" {
				t.Fatalf("no text from the kernel: %s", r.body)
			}
		} else if c := r.json(t)["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"]; c == "" {
			t.Fatalf("no text from the kernel: %s", r.body)
		}
	}
	// Tier local is the node's own model by default.
	r := call(t, srv, "POST", "/v1/chat/completions", chatBody("local", false, ""))
	if r.status != 200 || r.json(t)["model"] != "local" {
		t.Fatalf("tier local: %d %s", r.status, r.body)
	}
}

func TestBuiltinProviderKeepsConsent(t *testing.T) {
	up := upstreamtest.Start(t)
	n, _ := providersNode(t, up, func(c *Config) {
		ct := fullCPU
		ct.TaskTypes = []string{"summarization"}
		c.Consent = &ct
	})
	req := providers.ChatRequest{Model: "local", MaxTokens: 4, Messages: []providers.Message{{Role: "user", Content: "Write a Python function that sorts"}}}
	// Work for a tenant (no owner mark) is remote work: the contract refuses code_gen.
	_, err := n.Providers().Chat(t.Context(), req)
	var ue *providers.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 503 || ue.Code != consent.CodeTaskTypeNotAllowed {
		t.Fatalf("remote code_gen through the local provider: %v", err)
	}
	// The owner's own work is not under the contract.
	resp, err := n.Providers().Chat(providers.WithOwner(t.Context()), req)
	if err != nil || resp.Provider != "local" || resp.ModelID != tinyModel || resp.Usage.CompletionTokens == 0 {
		t.Fatalf("owner: %+v %v", resp, err)
	}
}

func TestLocalProviderToolCalls(t *testing.T) {
	up := upstreamtest.Start(t)
	n, _ := providersNode(t, up, nil)
	one := false
	req := providers.ChatRequest{Model: "local", MaxTokens: 64, ToolChoice: "required", ParallelToolCalls: &one,
		Messages: []providers.Message{{Role: "user", Content: "what is 2+2"}},
		Tools: []providers.Tool{{Type: "function", Function: providers.ToolFunction{Name: "calculator",
			Parameters: json.RawMessage(`{"type":"object","properties":{"op":{"type":"string","enum":["add","sub"]}},"required":["op"]}`)}}}}
	for _, stream := range []bool{false, true} {
		var resp *providers.ChatResponse
		var err error
		if stream {
			resp, err = n.Providers().ChatStream(providers.WithOwner(t.Context()), req, nil)
		} else {
			resp, err = n.Providers().Chat(providers.WithOwner(t.Context()), req)
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Message.ToolCalls) == 0 || resp.Message.ToolCalls[0].Function.Name != "calculator" || !json.Valid([]byte(resp.Message.ToolCalls[0].Function.Arguments)) {
			t.Fatalf("stream=%v: no tool call from the kernel: %+v", stream, resp)
		}
	}
}

func TestUpstreamUsageIsMetered(t *testing.T) {
	up := upstreamtest.Start(t)
	_, srv := providersNode(t, up, nil)
	admin := []string{"X-Admin-Secret", "admin-secret-for-tests"}
	r := call(t, srv, "POST", "/api/admin/tenants", `{"name":"acme","tier":"pro"}`, admin...)
	id := r.json(t)["id"].(string)
	r = call(t, srv, "POST", "/api/admin/tenants/"+id+"/api-keys", `{"name":"k"}`, admin...)
	key := r.json(t)["raw_key"].(string)
	up.Enqueue(upstreamtest.Reply{Content: "a b", Usage: &providers.Usage{PromptTokens: 11, CompletionTokens: 31, TotalTokens: 42}},
		upstreamtest.Reply{Content: "c d", Usage: &providers.Usage{PromptTokens: 5, CompletionTokens: 3, TotalTokens: 8}})
	for _, stream := range []bool{false, true} {
		if r := call(t, srv, "POST", "/v1/chat/completions", chatBody("big", stream, ""), "Authorization", "Bearer "+key); r.status != 200 {
			t.Fatalf("metered chat: %d %s", r.status, r.body)
		}
	}
	r = call(t, srv, "GET", "/api/admin/tenants/"+id, "", admin...)
	if m := r.json(t); m["total_tokens"] != float64(42+8) || m["total_runs"] != float64(2) {
		t.Fatalf("usage %s", r.body)
	}
}

func TestAdminModelsAndServices(t *testing.T) {
	up := upstreamtest.Start(t)
	up.SetModels("up-large", "up-extra")
	_, srv := providersNode(t, up, nil)
	admin := []string{"X-Admin-Secret", "admin-secret-for-tests"}
	r := call(t, srv, "GET", "/api/admin/models", "", admin...)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	byID := map[string]map[string]any{}
	for _, m := range r.json(t)["models"].([]any) {
		mm := m.(map[string]any)
		byID[mm["id"].(string)] = mm
	}
	if byID[tinyModel]["kind"] != "local" || byID[tinyModel]["tier"] != "local" || byID["big"]["kind"] != "upstream" ||
		byID["big"]["context_length"] != float64(32768) || byID["big"]["model_id"] != "up-large" || byID["up/up-extra"]["provider"] != "up" || byID["fast-local"]["kind"] != "local" {
		t.Fatalf("admin models: %s", r.body)
	}
	if _, listed := byID["up/up-large"]; listed {
		t.Fatalf("a configured model listed twice: %s", r.body)
	}
	r = call(t, srv, "GET", "/api/admin/services", "", admin...)
	m := r.json(t)
	for _, name := range []string{"aria", "kernel", "p2p", "consent", "energy", "intentions", "storage", "providers"} {
		if _, ok := m[name]; !ok {
			t.Fatalf("service %s missing: %s", name, r.body)
		}
	}
	if k := m["kernel"].(map[string]any); k["status"] != "running" || k["pid"] != float64(os.Getpid()) {
		t.Fatalf("kernel: %v", k)
	}
	if m["p2p"].(map[string]any)["status"] != "stopped" { // the test node runs without the peer network
		t.Fatalf("p2p: %v", m["p2p"])
	}
	for _, rt := range [][2]string{{"POST", "/api/admin/deploy"}, {"GET", "/api/admin/deploy/x"}, {"GET", "/api/admin/deploys"}, {"GET", "/api/admin/services/ares/logs"}} {
		r := call(t, srv, rt[0], rt[1], "{}", admin...)
		if r.status != 501 || r.json(t)["code"] != "NOT_IMPLEMENTED" || !strings.Contains(r.json(t)["error"].(string), "aria node") {
			t.Fatalf("%s %s: %d %s", rt[0], rt[1], r.status, r.body)
		}
	}
	if r := call(t, srv, "GET", "/api/admin/models", ""); r.status != 401 {
		t.Fatalf("admin models without the secret: %d", r.status)
	}
}

func TestProvidersConfigErrorsStopTheNode(t *testing.T) {
	n := New(Config{DataDir: t.TempDir(), APIPort: -1, Progress: io.Discard, Models: []string{NoModel}, Peers: PeerConfig{Disabled: true},
		Providers: providers.Config{Providers: []providers.ProviderConfig{{Name: "g", APIBase: "http://127.0.0.1:1/v1", APIKeyEnv: "ARIA_TEST_UNSET_KEY"}}}})
	err := n.Start(t.Context())
	if err == nil {
		stopTestNode(t, n)
		t.Fatal("started without the provider's key")
	}
	if !strings.Contains(err.Error(), "api_key_env ARIA_TEST_UNSET_KEY is not set") {
		t.Fatalf("error %v", err)
	}
	_ = filepath.Join
	_ = bytes.NewReader
}

// The agents' adapter reaches the kernel through the local provider as remote work.
func TestAgentsModelOnTheLocalProvider(t *testing.T) {
	up := upstreamtest.Start(t)
	n, _ := providersNode(t, up, nil)
	m := agents.RegistryModel{Registry: n.Providers()}
	resp, err := m.Chat(t.Context(), agents.ModelRequest{Model: "local", MaxTokens: 4, Messages: []agents.Message{{Role: "user", Content: "hello"}}})
	if err != nil || resp.CompletionTokens == 0 {
		t.Fatalf("agents model on the kernel: %+v %v", resp, err)
	}
}
