package ares

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/aria-node/aria/agents"
	"github.com/aria-node/aria/providers/upstreamtest"
)

func TestARESUserAgentsAndTOON(t *testing.T) {
	e := newAgentEnv(t, agents.LoopConfig{}, envOpts{})
	_, key := e.tenant("acme", "pro")
	_, otherKey := e.tenant("globex", "pro")
	tok, other := e.user(key, "dev@example.com"), e.user(otherKey, "o@example.com")
	auth := func(tk string) []string { return []string{"Authorization", "Bearer " + tk} }
	// The documented create request (flat shape).
	r := e.req("POST", "/api/user/agents", `{"name": "code-reviewer", "model": "llama-3.3-70b-versatile",
		"system_prompt": "You are an expert code reviewer. Analyze code for bugs, security issues, and style problems. Be concise and actionable.",
		"tools": ["calculator"]}`, auth(tok)...)
	want(t, r, 201)
	m := r.json(t)
	if m["name"] != "code-reviewer" || m["model"] != "llama-3.3-70b-versatile" || m["config"].(map[string]any)["model"] != "llama-3.3-70b-versatile" ||
		len(m["tools"].([]any)) != 1 || m["status"] != "active" || m["total_runs"] != float64(0) {
		t.Fatalf("created %v", m)
	}
	// The guide's nested shape works here too.
	want(t, e.req("POST", "/api/user/agents", `{"name": "my-analyst", "agent_type": "analyst", "config": {"model": "llama-3.3-70b",
		"system_prompt": "You are a senior financial analyst...", "tools": ["calculator"], "max_tokens": 4096}}`, auth(tok)...), 201)
	for body, want := range map[string]string{
		`{"name": "code-reviewer", "model": "m", "system_prompt": "p"}`: "Agent already exists",
		`{"name": "bad name!", "system_prompt": "p"}`:                   "Invalid agent name 'bad name!': use letters, digits and hyphens (at most 64)",
		`{"name": "x", "system_prompt": "p", "tools": ["rm"]}`:          "Unknown tool 'rm'. Available tools: calculator, web_search",
		`{"name": "x"}`:          "system_prompt is required",
		`{"system_prompt": "p"}`: "name is required",
	} {
		if got := e.req("POST", "/api/user/agents", body, auth(tok)...).errMsg(t); got != want {
			t.Errorf("%s: %q, want %q", body, got, want)
		}
	}
	// Partial update: the documented PUT.
	r = e.req("PUT", "/api/user/agents/code-reviewer", `{"model": "deepseek-r1-distill-llama-70b", "system_prompt": "You are a senior code reviewer specializing in Rust and TypeScript.", "tools": ["calculator", "web_search"]}`, auth(tok)...)
	want(t, r, 200)
	if m := r.json(t); m["model"] != "deepseek-r1-distill-llama-70b" || len(m["tools"].([]any)) != 2 || m["id"] == "" {
		t.Fatalf("updated %v", m)
	}
	r = e.req("GET", "/api/user/agents", "", auth(tok)...)
	want(t, r, 200)
	var list []map[string]any
	if err := jsonUnmarshal(r.body, &list); err != nil || len(list) != 2 || list[0]["name"] != "code-reviewer" {
		t.Fatalf("list %s", r.body)
	}
	// Export as TOON, import into another tenant, same agent.
	r = e.req("GET", "/api/user/agents/code-reviewer/export", "", auth(tok)...)
	want(t, r, 200)
	doc := string(r.body)
	if !strings.Contains(doc, "[[agents]]") || !strings.Contains(doc, `name = "code-reviewer"`) {
		t.Fatalf("export %s", doc)
	}
	r = e.req("POST", "/api/user/agents/import", doc, auth(other)...)
	want(t, r, 201)
	r = e.req("GET", "/api/user/agents/code-reviewer", "", auth(other)...)
	want(t, r, 200)
	if m := r.json(t); m["system_prompt"] != "You are a senior code reviewer specializing in Rust and TypeScript." {
		t.Fatalf("imported %v", m)
	}
	want(t, e.req("POST", "/api/user/agents/import", doc, auth(other)...), 409)
	want(t, e.req("POST", "/api/user/agents/import?replace=true", doc, auth(other)...), 201)
	// The guide's TOON definition (structured prompt).
	r = e.req("POST", "/api/user/agents/import", docToonExample, auth(tok)...)
	want(t, r, 201)
	r = e.req("GET", "/api/user/agents/support-agent", "", auth(tok)...)
	if m := r.json(t); !strings.HasPrefix(m["system_prompt"].(string), "You are a Customer Support Specialist.") {
		t.Fatalf("TOON agent %v", m)
	}
	// Bad TOON is a clear 400.
	r = e.req("POST", "/api/user/agents/import", "[[agents]]\nname = \"x\nmodel = 1", auth(tok)...)
	want(t, r, 400)
	if msg := r.errMsg(t); msg != "invalid TOON at line 2: unterminated string" {
		t.Fatalf("bad TOON: %q", msg)
	}
	// Another tenant: 404 for reads, updates, deletes, exports.
	want(t, e.req("GET", "/api/user/agents/my-analyst", "", auth(other)...), 404)
	want(t, e.req("PUT", "/api/user/agents/my-analyst", `{"model":"x"}`, auth(other)...), 404)
	want(t, e.req("DELETE", "/api/user/agents/my-analyst", "", auth(other)...), 404)
	want(t, e.req("GET", "/api/user/agents/my-analyst/export", "", auth(other)...), 404)
	r = e.withKey(otherKey, "POST", "/v1/agents/my-analyst/run", `{"input": {"message": "hi"}}`)
	want(t, r, 404)
	if r.errMsg(t) != "Agent not found: my-analyst" {
		t.Fatalf("%s", r.body)
	}
	want(t, e.req("DELETE", "/api/user/agents/my-analyst", "", auth(tok)...), 204)
	want(t, e.req("GET", "/api/user/agents/my-analyst", "", auth(tok)...), 404)
	want(t, e.req("GET", "/api/user/agents", ""), 401)
	// The public list: the platform's agents.
	r = e.req("GET", "/api/agents", "")
	want(t, r, 200)
	var pub []map[string]any
	jsonUnmarshal(r.body, &pub)
	names := map[string]bool{}
	for _, a := range pub {
		names[a["name"].(string)] = true
	}
	if !names["router"] || !names["research"] || !names["product"] || names["code-reviewer"] {
		t.Fatalf("public agents %v", names)
	}
}

const docToonExample = `[[agents]]
name = "support-agent"
model = "llama-3.3-70b"
[agents.toon]
role = "Customer Support Specialist"
personality = "Professional, empathetic, solution-oriented"
knowledge = ["product documentation", "pricing plans", "common issues"]
constraints = [
"Never make up information about products",
"Escalate billing disputes to human agents",
"Always confirm the customer's issue before proposing a solution",
]
tools = ["web_search"]
`

func TestARESAgentRunsAndStats(t *testing.T) {
	e := newAgentEnv(t, agents.LoopConfig{}, envOpts{})
	tid, key := e.tenant("acme", "pro")
	oid, otherKey := e.tenant("globex", "pro")
	// The admin API's create request.
	r := e.admin("POST", "/api/admin/tenants/"+tid+"/agents", `{"name": "risk-analyzer", "agent_type": "classifier",
		"config": {"model": "llama-3.3-70b", "system_prompt": "You are a risk analysis agent...", "tools": ["calculator"], "max_tokens": 2048}}`)
	want(t, r, 201)
	// The V1 run request, as documented: the model answers JSON, which becomes the output.
	e.up.Enqueue(upstreamtest.Reply{Content: `{"risk_score": 0.73, "risk_level": "medium"}`}, upstreamtest.Reply{Status: 500},
		upstreamtest.Reply{Content: "plain text"})
	r = e.withKey(key, "POST", "/v1/agents/risk-analyzer/run", `{"input": {"message": "Evaluate this transaction", "context": {"amount": 15000, "currency": "USD"}}}`)
	want(t, r, 200)
	run := r.json(t)
	out, _ := run["output"].(map[string]any)
	if run["status"] != "completed" || run["error"] != nil || out["risk_level"] != "medium" || num(run["tokens_used"]) == 0 ||
		run["started_at"] == nil || run["finished_at"] == nil || run["duration_ms"] == nil || run["id"] == "" {
		t.Fatalf("run %v", run)
	}
	if got := e.lastChat(t).Messages; !strings.Contains(got[len(got)-1].Content, `"amount":15000`) {
		t.Fatalf("context not passed: %+v", got)
	}
	r = e.withKey(key, "POST", "/v1/agents/risk-analyzer/run", `{"input": {"message": "again"}}`)
	want(t, r, 200)
	if m := r.json(t); m["status"] != "failed" || !strings.Contains(m["error"].(string), "HTTP 500") {
		t.Fatalf("failed run %v", m)
	}
	r = e.withKey(key, "POST", "/v1/agents/risk-analyzer/run", `{"input": {"message": "third"}}`)
	if out := r.json(t)["output"].(map[string]any); out["response"] != "plain text" {
		t.Fatalf("text output %v", out)
	}
	want(t, e.withKey(key, "POST", "/v1/agents/risk-analyzer/run", `{"input": {}}`), 400)
	// Runs are metered exactly: the tokens the runs report, once.
	var spent int64
	rr := e.withKey(key, "GET", "/v1/agents/risk-analyzer/runs", "")
	for _, x := range rr.json(t)["runs"].([]any) {
		spent += num(x.(map[string]any)["tokens_used"])
	}
	if u := e.usage(key); num(u["total_tokens"]) != spent || spent == 0 {
		t.Fatalf("usage %v, runs reported %d", u, spent)
	}
	// Runs newest first, paginated; stats everywhere they are documented.
	r = e.withKey(key, "GET", "/v1/agents/risk-analyzer/runs?page=1&per_page=2", "")
	want(t, r, 200)
	m := r.json(t)
	runs := m["runs"].([]any)
	if num(m["total"]) != 3 || len(runs) != 2 || runs[1].(map[string]any)["status"] != "failed" {
		t.Fatalf("runs %s", r.body)
	}
	r = e.withKey(key, "GET", "/v1/agents/risk-analyzer", "")
	want(t, r, 200)
	m = r.json(t)
	if num(m["total_runs"]) != 3 || m["success_rate"] != 0.667 || m["last_run"] == nil || m["config"].(map[string]any)["max_tokens"] != float64(2048) {
		t.Fatalf("agent %v", m)
	}
	r = e.withKey(key, "GET", "/v1/agents?page=1&per_page=3", "")
	want(t, r, 200)
	m = r.json(t)
	if first := m["agents"].([]any)[0].(map[string]any); first["name"] != "risk-analyzer" || len(m["agents"].([]any)) != 3 || num(m["total"]) != 9 {
		t.Fatalf("list %s", r.body)
	}
	want(t, e.withKey(key, "GET", "/v1/agents?per_page=1000", ""), 400)
	r = e.admin("GET", "/api/admin/tenants/"+tid+"/agents/risk-analyzer/stats", "")
	want(t, r, 200)
	if m := r.json(t); m["agent_name"] != "risk-analyzer" || num(m["total_runs"]) != 3 || num(m["successful_runs"]) != 2 || num(m["failed_runs"]) != 1 || m["avg_tokens"] == nil {
		t.Fatalf("stats %v", m)
	}
	r = e.admin("GET", "/api/admin/tenants/"+tid+"/agents/risk-analyzer/runs?limit=1", "")
	if runs := r.json(t)["runs"].([]any); len(runs) != 1 {
		t.Fatalf("admin runs %s", r.body)
	}
	r = e.admin("GET", "/api/admin/tenants/"+tid+"/agents", "")
	if as := r.json(t)["agents"].([]any); len(as) != 1 || num(as[0].(map[string]any)["total_runs"]) != 3 || as[0].(map[string]any)["model"] != "llama-3.3-70b" {
		t.Fatalf("admin list %s", r.body)
	}
	// Tenant isolation: the other tenant sees neither the agent nor its runs.
	for _, path := range []string{"/v1/agents/risk-analyzer", "/v1/agents/risk-analyzer/runs"} {
		want(t, e.withKey(otherKey, "GET", path, ""), 404)
	}
	want(t, e.admin("GET", "/api/admin/tenants/"+oid+"/agents/risk-analyzer/stats", ""), 404)
	// The built-in "router" is visible to every tenant, but its runs are per tenant.
	r = e.withKey(otherKey, "GET", "/v1/agents/risk-analyzer/runs", "")
	if r.errMsg(t) != "Agent not found: risk-analyzer" {
		t.Fatalf("%s", r.body)
	}
	// Admin updates and deletes; the cross-tenant view.
	r = e.admin("PUT", "/api/admin/tenants/"+tid+"/agents/risk-analyzer", `{"config": {"max_tokens": 100}}`)
	want(t, r, 200)
	if m := r.json(t); m["config"].(map[string]any)["max_tokens"] != float64(100) || m["system_prompt"] != "You are a risk analysis agent..." {
		t.Fatalf("admin update %v", m)
	}
	if as := e.admin("GET", "/api/admin/agents", "").json(t)["agents"].([]any); len(as) != 1 || as[0].(map[string]any)["tenant_id"] != tid {
		t.Fatalf("all agents %v", as)
	}
	// Provisioned template agents are the tenant's agents too.
	r = e.admin("POST", "/api/admin/provision-client", `{"name":"kasino-co","tier":"pro","product_type":"kasino","api_key_name":"production"}`)
	want(t, r, 201)
	kk := r.json(t)["raw_api_key"].(string)
	want(t, e.withKey(kk, "GET", "/v1/agents/kasino-risk", ""), 200)
	want(t, e.admin("DELETE", "/api/admin/tenants/"+tid+"/agents/risk-analyzer", ""), 204)
	want(t, e.admin("DELETE", "/api/admin/tenants/"+tid+"/agents/risk-analyzer", ""), 404)
	want(t, e.admin("POST", "/api/admin/tenants/nope/agents", `{"name":"x","config":{"system_prompt":"p"}}`), 404)
	// A bare string is the message; any other shape is a 400 naming the field.
	r = e.withKey(kk, "POST", "/v1/agents/kasino-risk/run", `{"input": "as a string"}`)
	if m := r.json(t); m["status"] != "completed" || m["input"].(map[string]any)["message"] != "as a string" {
		t.Fatalf("string input %v", m)
	}
	for _, bad := range []string{`{"input": 42}`, `{"input": [1]}`, `{"input": {"message": 7}}`} {
		r = e.withKey(kk, "POST", "/v1/agents/kasino-risk/run", bad)
		if m := r.json(t); r.status != 400 || !strings.Contains(m["error"].(string), "'input'") {
			t.Fatalf("%s: %d %v", bad, r.status, m)
		}
	}
	r = e.withKey(kk, "POST", "/api/user/agents", `{"name": "typed", "tools": "calculator"}`)
	if m := r.json(t); r.status != 400 || !strings.Contains(m["error"].(string), "'tools'") || !strings.Contains(m["error"].(string), "an array") {
		t.Fatalf("tools as a string: %d %v", r.status, m)
	}
	r = e.withKey(kk, "POST", "/api/user/agents", `{"name": "typed", "config": {"max_tokens": "many"}}`)
	if m := r.json(t); r.status != 400 || !strings.Contains(m["error"].(string), "'config.max_tokens'") || !strings.Contains(m["error"].(string), "a number") {
		t.Fatalf("config.max_tokens as a string: %d %v", r.status, m)
	}
}

func TestARESWorkflowsAndResearch(t *testing.T) {
	e := newAgentEnv(t, agents.LoopConfig{}, envOpts{})
	_, key := e.tenant("acme", "pro")
	tok := e.user(key, "dev@example.com")
	auth := []string{"Authorization", "Bearer " + tok}
	r := e.req("GET", "/api/workflows", "", auth...)
	want(t, r, 200)
	if string(r.body) != "[\"default\",\"research\",\"support\"]\n" {
		t.Fatalf("workflows %s", r.body)
	}
	// The documented request; the router routes to sales, sales delegates to product.
	e.up.Enqueue(upstreamtest.Reply{Content: "Classified as pricing inquiry: sales."},
		upstreamtest.Reply{Content: "Retrieved pricing tiers.\nDELEGATE: product"},
		upstreamtest.Reply{Content: "The Pro plan fits a mid-size SaaS company."})
	r = e.req("POST", "/api/workflows/default", `{"query": "Compare your Pro and Enterprise pricing plans for a mid-size SaaS company",
		"context": {"company_size": "50-200 employees", "expected_volume": "200K calls/month"}}`, auth...)
	want(t, r, 200)
	m := r.json(t)
	path := m["reasoning_path"].([]any)
	if m["final_response"] != "The Pro plan fits a mid-size SaaS company." || num(m["steps_executed"]) != 3 ||
		strings.Join(toStrings(m["agents_used"]), ",") != "router,sales,product" || len(path) != 3 ||
		path[0].(map[string]any)["agent"] != "router" || !strings.Contains(path[0].(map[string]any)["action"].(string), "Routing to sales") {
		t.Fatalf("workflow %s", r.body)
	}
	if got := e.lastChat(t).Messages; !strings.Contains(got[1].Content, `"company_size":"50-200 employees"`) || !strings.Contains(got[1].Content, "[sales] Retrieved pricing tiers.") {
		t.Fatalf("context and notes not passed: %+v", got)
	}
	r = e.req("POST", "/api/workflows/nope", `{"query":"x"}`, auth...)
	want(t, r, 404)
	if r.errMsg(t) != "Workflow not found: nope" {
		t.Fatalf("%s", r.body)
	}
	want(t, e.req("POST", "/api/workflows/default", `{}`, auth...), 400)
	// Research: max_iterations is a hard cap on agent calls, whatever the depth.
	for _, tc := range []struct{ depth, max, calls int }{{1, 5, 1}, {3, 1, 1}, {2, 3, 3}, {3, 5, 5}, {3, 10, 9}} {
		before := len(e.up.ChatRequests())
		e.up.SetDefault(upstreamtest.Reply{Content: "- first facet\n- second facet\n- third facet"})
		r = e.req("POST", "/api/research", `{"query": "What are the current trends in edge computing for healthcare?", "depth": `+itoa(tc.depth)+`, "max_iterations": `+itoa(tc.max)+`}`, auth...)
		want(t, r, 200)
		m := r.json(t)
		if calls := len(e.up.ChatRequests()) - before; calls != tc.calls || num(m["agent_invocations"]) != int64(tc.calls) || m["findings"] == "" || m["duration_ms"] == nil {
			t.Fatalf("depth %d max %d: %d calls (want %d): %v", tc.depth, tc.max, calls, tc.calls, m)
		}
		if _, ok := m["sources"].([]any); !ok {
			t.Fatalf("sources %v", m)
		}
	}
	want(t, e.req("POST", "/api/research", `{"query": "x", "max_iterations": 500}`, auth...), 400)
	want(t, e.req("POST", "/api/research", `{"depth": 2}`, auth...), 400)
}

func TestWorkflowCyclesAreRefused(t *testing.T) {
	_, err := agents.New(agents.Options{Workflows: []agents.Workflow{{Name: "loop", Entry: "a", Next: map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"a"}}}}})
	if err == nil || err.Error() != `workflow "loop" is cyclic: a -> b -> c -> a` {
		t.Fatalf("cyclic workflow: %v", err)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
