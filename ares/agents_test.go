package ares

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aria-node/aria/agents"
	"github.com/aria-node/aria/openai"
	"github.com/aria-node/aria/providers"
	"github.com/aria-node/aria/providers/upstreamtest"
	"github.com/aria-node/aria/storage/bolt"
	"github.com/aria-node/aria/storage/postgres"
)

// agentEnv is a platform whose agents call a scripted OpenAI-compatible upstream (a
// real HTTP server) through the providers registry, as a node with a configured
// provider does.
type agentEnv struct {
	*env
	up *upstreamtest.Server
}

func newAgentEnv(t *testing.T, loop agents.LoopConfig, o envOpts, wfs ...agents.Workflow) *agentEnv {
	t.Helper()
	up := upstreamtest.Start(t)
	reg := providers.NewRegistry()
	c, err := providers.NewClient("up", up.BaseURL(), "", providers.WithTimeout(10*time.Second), providers.WithMaxBytes(1<<20),
		providers.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(reg.AddProvider(c, false))
	for _, m := range []providers.Model{
		{Name: "up-fast", Provider: "up", ModelID: "fast-1", Tier: "fast", ContextLength: 4096},
		{Name: "up-balanced", Provider: "up", ModelID: "balanced-1", Tier: "balanced", ContextLength: 4096},
		{Name: "up-powerful", Provider: "up", ModelID: "powerful-1", Tier: "powerful", ContextLength: 4096},
		{Name: "up-deepseek", Provider: "up", ModelID: "deepseek-1", Tier: "deepseek", ContextLength: 4096},
		// The documented examples name this model: an owner configures it.
		{Name: "llama-3.3-70b", Provider: "up", ModelID: "llama-3.3-70b-versatile", Tier: "balanced", ContextLength: 8192},
		{Name: "llama-3.3-70b-versatile", Provider: "up", ModelID: "llama-3.3-70b-versatile", ContextLength: 8192},
	} {
		must(reg.AddModel(m))
	}
	// As the node does: upstream turns are metered through the request's usage sink.
	// The platform's own handlers meter themselves, so this must not count them twice.
	reg.SetUsageHook(func(ctx context.Context, resp *providers.ChatResponse) {
		if sink := openai.UsageSinkFrom(ctx); sink != nil {
			sink.AddUsage(resp.Usage.PromptTokens, resp.Usage.CompletionTokens)
		}
	})
	o.agents = func(e *env) *agents.Service {
		var st agents.Store
		if pg, ok := e.store.(*postgres.Store); ok {
			st = pg.AgentsStore()
		} else {
			bs, err := bolt.NewAgentsStore(e.db)
			must(err)
			st = bs
		}
		ag, err := agents.New(agents.Options{Store: st, Model: agents.RegistryModel{Registry: reg}, Loop: loop, Workflows: wfs,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		must(err)
		return ag
	}
	return &agentEnv{env: newEnv(t, o), up: up}
}

// user registers a user in the key's tenant and returns an access token.
func (e *agentEnv) user(key, email string) string {
	e.t.Helper()
	want(e.t, e.withKey(key, "POST", "/api/auth/register", `{"email":"`+email+`","password":"long enough pw"}`), 201)
	r := e.req("POST", "/api/auth/login", `{"email":"`+email+`","password":"long enough pw"}`)
	want(e.t, r, 200)
	return r.json(e.t)["access_token"].(string)
}

func (e *agentEnv) lastChat(t *testing.T) providers.ChatRequest {
	t.Helper()
	rs := e.up.ChatRequests()
	if len(rs) == 0 {
		t.Fatal("the upstream received no chat")
	}
	return rs[len(rs)-1]
}

// stream posts a chat stream and returns its data events (decoded) and comments.
func (e *agentEnv) stream(t *testing.T, path, auth, body string) ([]map[string]any, int, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, _ := http.NewRequestWithContext(ctx, "POST", e.ts.URL+path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "text/event-stream")
	if auth != "" {
		r.Header.Set("Authorization", "Bearer "+auth)
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var evs []map[string]any
	comments := 0
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "data: "):
			var m map[string]any
			if err := json.Unmarshal([]byte(line[6:]), &m); err != nil {
				t.Fatalf("event not JSON: %q", line)
			}
			evs = append(evs, m)
		case strings.HasPrefix(line, ":"):
			comments++
		}
	}
	return evs, comments, res
}

func TestARESChatBothShapes(t *testing.T) {
	e := newAgentEnv(t, agents.LoopConfig{}, envOpts{})
	_, key := e.tenant("acme", "pro")
	e.up.Enqueue(upstreamtest.Reply{Content: "I can help with products."})
	// The quickstart's request, as documented.
	r := e.withKey(key, "POST", "/v1/chat", `{"message": "What can you help me with?", "agent_type": "product"}`)
	want(t, r, 200)
	m := r.json(t)
	if m["response"] != "I can help with products." || m["content"] != m["response"] || m["agent"] != "product" ||
		!strings.HasPrefix(m["context_id"].(string), "ctx_") || m["finish_reason"] != "stop" || m["model"] != "up-balanced" {
		t.Fatalf("answer %v", m)
	}
	if src, ok := m["sources"].([]any); !ok || len(src) != 0 {
		t.Fatalf("sources %v", m["sources"])
	}
	u := m["usage"].(map[string]any)
	if num(m["tokens_used"]) == 0 || num(u["total_tokens"]) != num(m["tokens_used"]) || num(u["prompt_tokens"])+num(u["completion_tokens"]) != num(m["tokens_used"]) {
		t.Fatalf("tokens %v", m)
	}
	got := e.lastChat(t)
	if got.Model != "balanced-1" || got.Messages[0].Role != "system" || !strings.Contains(got.Messages[0].Content, "product specialist") ||
		got.Messages[len(got.Messages)-1].Content != "What can you help me with?" || len(got.Tools) != 0 {
		t.Fatalf("upstream got %+v", got)
	}
	first := num(m["tokens_used"])
	// The V1 shape: messages and a model; the analyst agent has the calculator.
	e.up.Enqueue(upstreamtest.Reply{Content: "Q1 revenue rose."})
	r = e.withKey(key, "POST", "/v1/chat", `{"messages": [{"role": "user", "content": "Summarize Q1 revenue trends."}], "model": "llama-3.3-70b", "agent_type": "analyst"}`)
	want(t, r, 200)
	m = r.json(t)
	if m["content"] != "Q1 revenue rose." || m["model"] != "llama-3.3-70b" || m["agent"] != "analyst" || m["id"] == "" {
		t.Fatalf("answer %v", m)
	}
	got = e.lastChat(t)
	if got.Model != "llama-3.3-70b-versatile" || len(got.Tools) != 1 || got.Tools[0].Function.Name != "calculator" {
		t.Fatalf("upstream got %+v", got)
	}
	// Each chat is one metered request with exactly the tokens it reported.
	us := e.usage(key)
	if num(us["total_runs"]) != 2 || num(us["total_tokens"]) != first+num(m["tokens_used"]) {
		t.Fatalf("usage %v (tokens %d + %v)", us, first, m["tokens_used"])
	}
	// Bad input: clear errors in the ARES shape.
	for body, status := range map[string]int{
		`{}`: 400, `{"message": ""}`: 400, `{"message": "x", "agent_type": "nope"}`: 404, `{"messages": [{"role": "robot", "content": "x"}]}`: 400,
		`{"message": "x", "context_id": "ctx_missing"}`: 404, `{"message": 5}`: 400, `{"message": "x", "max_tokens": -1}`: 400,
	} {
		r = e.withKey(key, "POST", "/v1/chat", body)
		want(t, r, status)
		if r.json(t)["code"] == nil {
			t.Fatalf("%s: %s", body, r.body)
		}
	}
	r = e.withKey(key, "POST", "/v1/chat", `{"message": "x", "agent_type": "nope"}`)
	if r.errMsg(t) != "Agent not found: nope" {
		t.Fatalf("unknown agent: %s", r.body)
	}
	want(t, e.req("POST", "/v1/chat", `{"message":"x"}`), 401)
	want(t, e.withKey(key, "GET", "/v1/chat", ""), 405)
}

func TestARESChatStream(t *testing.T) {
	e := newAgentEnv(t, agents.LoopConfig{}, envOpts{})
	_, key := e.tenant("acme", "pro")
	// Without agent_type the router picks the agent: its answer names "analyst".
	e.up.Enqueue(upstreamtest.Reply{Content: "analyst"}, upstreamtest.Reply{Content: "Based on the data, Q1 revenue grew."})
	evs, _, res := e.stream(t, "/v1/chat/stream", key, `{"messages": [{"role": "user", "content": "Explain quantum computing."}], "model": "llama-3.3-70b"}`)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" || len(evs) < 3 {
		t.Fatalf("status %d, %d events %v", res.StatusCode, len(evs), evs)
	}
	var text strings.Builder
	for _, ev := range evs[:len(evs)-1] {
		if ev["finish_reason"] != nil {
			t.Fatalf("finish before the end: %v", ev)
		}
		text.WriteString(ev["delta"].(string))
	}
	last := evs[len(evs)-1]
	if text.String() != "Based on the data, Q1 revenue grew." || last["delta"] != "" || last["finish_reason"] != "stop" ||
		num(last["tokens_used"]) == 0 || !strings.HasPrefix(last["context_id"].(string), "ctx_") || last["content"] != text.String() ||
		last["agent"] != "analyst" {
		t.Fatalf("text %q, last %v", text.String(), last)
	}
	if !e.lastChat(t).Stream {
		t.Fatal("the upstream was not asked to stream")
	}
	if router := e.up.ChatRequests()[0]; router.Model != "fast-1" || !strings.Contains(router.Messages[0].Content, "- analyst:") {
		t.Fatalf("router request %+v", router)
	}
	if us := e.usage(key); num(us["total_tokens"]) != num(last["tokens_used"]) {
		t.Fatalf("usage %v, stream reported %v", us, last["tokens_used"])
	}
	// /api/chat/stream with a user's JWT; the documented body.
	tok := e.user(key, "dev@example.com")
	e.up.Enqueue(upstreamtest.Reply{Content: "Qubits superpose."})
	evs, _, res = e.stream(t, "/api/chat/stream", tok, `{"message": "Explain quantum computing", "agent_type": "research"}`)
	if res.StatusCode != 200 || evs[len(evs)-1]["agent"] != "research" || evs[len(evs)-1]["response"] != "Qubits superpose." {
		t.Fatalf("status %d, events %v", res.StatusCode, evs)
	}
	// Errors before the stream starts are plain JSON.
	_, _, res = e.stream(t, "/v1/chat/stream", key, `{"message": "x", "agent_type": "ghost"}`)
	if res.StatusCode != 404 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("error before stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	e.up.Enqueue(upstreamtest.Reply{Status: 500})
	_, _, res = e.stream(t, "/v1/chat/stream", key, `{"message": "x", "agent_type": "classifier"}`)
	if res.StatusCode != 502 {
		t.Fatalf("upstream failure before the first delta: %d", res.StatusCode)
	}
}

func TestARESChatKeepAliveAndEndlessStream(t *testing.T) {
	e := newAgentEnv(t, agents.LoopConfig{MaxAnswerBytes: 32 << 10}, envOpts{keepAlive: 50 * time.Millisecond})
	_, key := e.tenant("acme", "pro")
	e.up.Enqueue(upstreamtest.Reply{Content: "slow answer", Delay: 400 * time.Millisecond})
	evs, comments, res := e.stream(t, "/v1/chat/stream", key, `{"message": "x", "agent_type": "classifier"}`)
	if res.StatusCode != 200 || comments == 0 || evs[len(evs)-1]["finish_reason"] != "stop" {
		t.Fatalf("status %d, %d keep-alives, events %v", res.StatusCode, comments, evs)
	}
	// An upstream that streams forever is cut at the answer limit, with an error event.
	e.up.Enqueue(upstreamtest.Reply{Endless: true})
	start := time.Now()
	evs, _, _ = e.stream(t, "/v1/chat/stream", key, `{"message": "x", "agent_type": "classifier"}`)
	last := evs[len(evs)-1]
	if last["finish_reason"] != "error" || last["code"] != "UPSTREAM_ERROR" || time.Since(start) > 20*time.Second {
		t.Fatalf("endless stream ended with %v after %v", last, time.Since(start))
	}
	// Garbage instead of an answer, not streamed: a clean 502.
	e.up.Enqueue(upstreamtest.Reply{Body: "<html>not an answer</html>"})
	r := e.withKey(key, "POST", "/v1/chat", `{"message": "x", "agent_type": "classifier"}`)
	want(t, r, 502)
	if r.json(t)["code"] != "UPSTREAM_ERROR" {
		t.Fatalf("garbage: %s", r.body)
	}
	// An upstream that never answers: the model call's deadline, a clean 504.
	h := newAgentEnv(t, agents.LoopConfig{ModelTimeout: 500 * time.Millisecond}, envOpts{})
	_, hkey := h.tenant("acme", "pro")
	h.up.Enqueue(upstreamtest.Reply{Hang: true})
	start = time.Now()
	r = h.withKey(hkey, "POST", "/v1/chat", `{"message": "x", "agent_type": "classifier"}`)
	want(t, r, 504)
	if r.json(t)["code"] != "UPSTREAM_TIMEOUT" || time.Since(start) > 20*time.Second {
		t.Fatalf("hang: %s after %v", r.body, time.Since(start))
	}
	// An upstream's rate limit in the documented shape.
	e.up.Enqueue(upstreamtest.Reply{Status: 429, RetryAfter: "7"})
	r = e.withKey(key, "POST", "/v1/chat", `{"message": "x", "agent_type": "classifier"}`)
	want(t, r, 429)
	if m := r.json(t); m["error"] != "Rate limit exceeded for provider 'up'" || m["code"] != "RATE_LIMIT_EXCEEDED" || m["retry_after"] != float64(7) {
		t.Fatalf("rate limit %v", m)
	}
}

func TestARESConversations(t *testing.T) {
	e := newAgentEnv(t, agents.LoopConfig{}, envOpts{})
	_, key := e.tenant("acme", "pro")
	_, other := e.tenant("globex", "pro")
	tok := e.user(key, "dev@example.com")
	tok2 := e.user(key, "two@example.com")
	auth := func(tk string) []string { return []string{"Authorization", "Bearer " + tk} }
	e.up.Enqueue(upstreamtest.Reply{Content: "We offer Free, Pro and Enterprise."}, upstreamtest.Reply{Content: "Pro is cheaper."})
	// The chat guide's Python example: a first message, then a follow-up with only the context_id.
	r := e.req("POST", "/api/chat", `{"message": "What pricing plans do you offer?", "agent_type": "product"}`, auth(tok)...)
	want(t, r, 200)
	ctxID := r.json(t)["context_id"].(string)
	r = e.req("POST", "/api/chat", `{"message": "How does the Pro plan compare to Enterprise?", "context_id": "`+ctxID+`"}`, auth(tok)...)
	want(t, r, 200)
	if m := r.json(t); m["context_id"] != ctxID || m["agent"] != "product" {
		t.Fatalf("follow-up %v", m)
	}
	// The upstream received the history.
	msgs := e.lastChat(t).Messages
	var roles []string
	for _, m := range msgs {
		roles = append(roles, m.Role)
	}
	if strings.Join(roles, ",") != "system,user,assistant,user" || msgs[1].Content != "What pricing plans do you offer?" || msgs[2].Content != "We offer Free, Pro and Enterprise." {
		t.Fatalf("history sent %+v", msgs)
	}
	// Listing, reading, renaming, deleting.
	r = e.req("GET", "/api/conversations", "", auth(tok)...)
	want(t, r, 200)
	cs := r.json(t)["conversations"].([]any)
	if len(cs) != 1 || cs[0].(map[string]any)["id"] != ctxID || cs[0].(map[string]any)["title"] != "What pricing plans do you offer?" {
		t.Fatalf("list %s", r.body)
	}
	r = e.req("GET", "/api/conversations/"+ctxID, "", auth(tok)...)
	want(t, r, 200)
	if ms := r.json(t)["messages"].([]any); len(ms) != 4 {
		t.Fatalf("messages %s", r.body)
	}
	r = e.req("PUT", "/api/conversations/"+ctxID, `{"title": "Pricing discussion"}`, auth(tok)...)
	want(t, r, 200)
	if r.json(t)["title"] != "Pricing discussion" {
		t.Fatalf("rename %s", r.body)
	}
	want(t, e.req("PUT", "/api/conversations/"+ctxID, `{"title": ""}`, auth(tok)...), 400)
	// Another user of the tenant, another tenant, its key: 404, and nothing leaks.
	for _, h := range [][]string{auth(tok2), auth(other)} {
		r = e.req("GET", "/api/conversations/"+ctxID, "", h...)
		want(t, r, 404)
		if r.errMsg(t) != "Conversation not found: "+ctxID {
			t.Fatalf("%s", r.body)
		}
		want(t, e.req("DELETE", "/api/conversations/"+ctxID, "", h...), 404)
		want(t, e.req("PUT", "/api/conversations/"+ctxID, `{"title":"x"}`, h...), 404)
		want(t, e.req("POST", "/api/chat", `{"message":"x","context_id":"`+ctxID+`"}`, h...), 404)
	}
	want(t, e.withKey(other, "POST", "/v1/chat", `{"message":"x","context_id":"`+ctxID+`"}`), 404)
	if l := e.req("GET", "/api/conversations", "", auth(tok2)...).json(t)["conversations"].([]any); len(l) != 0 {
		t.Fatalf("another user lists %v", l)
	}
	// Memory: what the user said about themselves, from their conversations.
	e.up.Enqueue(upstreamtest.Reply{Content: "Noted."})
	want(t, e.req("POST", "/api/chat", `{"message": "My name is Ada. I prefer short answers.", "agent_type": "support"}`, auth(tok)...), 200)
	r = e.req("GET", "/api/memory", "", auth(tok)...)
	want(t, r, 200)
	mem := r.json(t)
	facts, prefs := mem["facts"].([]any), mem["preferences"].([]any)
	if len(facts) != 1 || facts[0].(map[string]any)["value"] != "Ada" || len(prefs) != 1 || prefs[0].(map[string]any)["value"] != "short answers" ||
		num(mem["conversations"]) != 2 {
		t.Fatalf("memory %s", r.body)
	}
	if r := e.req("GET", "/api/memory", "", auth(tok2)...).json(t); len(r["facts"].([]any)) != 0 {
		t.Fatalf("another user's memory %v", r)
	}
	want(t, e.req("DELETE", "/api/conversations/"+ctxID, "", auth(tok)...), 204)
	want(t, e.req("GET", "/api/conversations/"+ctxID, "", auth(tok)...), 404)
	want(t, e.req("GET", "/api/conversations", ""), 401)
}

func TestARESToolLoopMortgage(t *testing.T) {
	e := newAgentEnv(t, agents.LoopConfig{}, envOpts{})
	_, key := e.tenant("acme", "pro")
	var call providers.ToolCall
	call.ID, call.Type, call.Function.Name = "call_1", "function", "calculator"
	call.Function.Arguments = `{"expression": "(400000 * (0.065/12) * (1 + 0.065/12)^360) / ((1 + 0.065/12)^360 - 1)"}`
	e.up.Enqueue(upstreamtest.Reply{ToolCalls: []providers.ToolCall{call}},
		upstreamtest.Reply{Content: "The monthly payment is **$2,528.27**."})
	// The tool-calling guide's request, with the agent it creates.
	want(t, e.admin("POST", "/api/admin/tenants/"+e.tenantID(key)+"/agents", `{"name": "financial-analyst", "agent_type": "analyst",
		"config": {"model": "llama-3.3-70b", "system_prompt": "You are a senior financial analyst...", "tools": ["calculator"], "max_tokens": 4096}}`), 201)
	r := e.withKey(key, "POST", "/v1/chat", `{"messages": [{"role": "user", "content": "What is the monthly payment on a $400,000 mortgage at 6.5% for 30 years?"}], "agent_type": "financial-analyst"}`)
	want(t, r, 200)
	if m := r.json(t); m["content"] != "The monthly payment is **$2,528.27**." || m["agent"] != "financial-analyst" {
		t.Fatalf("answer %v", m)
	}
	rs := e.up.ChatRequests()
	if len(rs) != 2 {
		t.Fatalf("%d upstream calls", len(rs))
	}
	tool := rs[1].Messages[len(rs[1].Messages)-1]
	if tool.Role != "tool" || tool.ToolCallID != "call_1" || tool.Content != `{"result":2528.272093971855}` {
		t.Fatalf("tool result sent %+v", tool)
	}
	if a := rs[1].Messages[len(rs[1].Messages)-2]; a.Role != "assistant" || len(a.ToolCalls) != 1 {
		t.Fatalf("assistant turn %+v", a)
	}
	// The run recorded each step.
	r = e.withKey(key, "GET", "/v1/agents/financial-analyst/runs", "")
	want(t, r, 200)
	runs := r.json(t)["runs"].([]any)
	steps := runs[0].(map[string]any)["steps"].([]any)
	if len(runs) != 1 || len(steps) != 3 || steps[1].(map[string]any)["tool"] != "calculator" || steps[1].(map[string]any)["result"] != `{"result":2528.272093971855}` {
		t.Fatalf("runs %s", r.body)
	}
	// A model that never stops calling tools gets 10 rounds, then a forced answer.
	e.up.SetDefault(upstreamtest.Reply{ToolCalls: []providers.ToolCall{call}})
	before := len(e.up.ChatRequests())
	r = e.withKey(key, "POST", "/v1/chat", `{"message": "again", "agent_type": "financial-analyst"}`)
	want(t, r, 200)
	rs = e.up.ChatRequests()[before:]
	if len(rs) != 11 {
		t.Fatalf("%d model calls, want 10 tool rounds + 1 forced answer", len(rs))
	}
	if last := rs[10]; len(last.Tools) != 0 || last.ToolChoice != "none" {
		t.Fatalf("forced answer request: tools %d, tool_choice %v", len(last.Tools), last.ToolChoice)
	}
}

// tenantID finds the tenant of a key through /api/auth/register's answer... simpler:
// the admin list (tests create few tenants).
func (e *agentEnv) tenantID(key string) string {
	e.t.Helper()
	for _, x := range e.admin("GET", "/api/admin/tenants", "").json(e.t)["tenants"].([]any) {
		id := x.(map[string]any)["id"].(string)
		for _, k := range e.admin("GET", "/api/admin/tenants/"+id+"/api-keys", "").json(e.t)["keys"].([]any) {
			if strings.HasPrefix(key, k.(map[string]any)["prefix"].(string)) {
				return id
			}
		}
	}
	e.t.Fatal("no tenant for key")
	return ""
}
