package ares

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aria-node/aria/tenancy"
)

func TestAdminSecret(t *testing.T) {
	e := newEnv(t, envOpts{})
	r := e.req("GET", "/api/admin/tenants", "")
	want(t, r, 401)
	if m := r.errMsg(t); m != "Missing X-Admin-Secret header" {
		t.Fatalf("message %q", m)
	}
	r = e.req("GET", "/api/admin/tenants", "", "X-Admin-Secret", adminSecret+"x")
	want(t, r, 401)
	if m := r.json(t); m["error"] != "Invalid admin secret" || m["code"] != "ADMIN_INVALID" {
		t.Fatalf("body %v", m)
	}
	// A tenant key is not an admin secret.
	_, key := e.tenant("acme", "pro")
	r = e.withKey(key, "GET", "/api/admin/tenants", "")
	want(t, r, 401)
	// Unknown admin paths are 404 behind the secret, 401 without it.
	want(t, e.req("GET", "/api/admin/nothing", ""), 401)
	want(t, e.admin("GET", "/api/admin/nothing", ""), 404)
	r = e.admin("DELETE", "/api/admin/tenants", "")
	want(t, r, 405)
	if r.header.Get("Allow") != "GET, POST" {
		t.Fatalf("Allow %q", r.header.Get("Allow"))
	}
}

func TestTenantEndpoints(t *testing.T) {
	e := newEnv(t, envOpts{})
	r := e.admin("POST", "/api/admin/tenants", `{"name":"acme-corp","tier":"pro"}`)
	want(t, r, 201)
	m := r.json(t)
	id, _ := m["id"].(string)
	if m["name"] != "acme-corp" || m["tier"] != "pro" || len(id) != 36 || m["created_at"] != "2026-03-13T10:00:00Z" {
		t.Fatalf("created %v", m)
	}
	r = e.admin("POST", "/api/admin/tenants", `{"name":"acme-corp","tier":"dev"}`)
	want(t, r, 409)
	for body, status := range map[string]int{
		`{"name":"x","tier":"gold"}`: 422, `{"tier":"pro"}`: 400, `{"name":"Bad Name"}`: 422, `{"name":`: 400, `[1]`: 400,
	} {
		r = e.admin("POST", "/api/admin/tenants", body)
		want(t, r, status)
		if r.json(t)["code"] == nil {
			t.Fatalf("%s: no code in %s", body, r.body)
		}
	}
	r = e.admin("POST", "/api/admin/tenants", `{"name":"x","tier":"gold"}`)
	if msg := r.errMsg(t); msg != "Invalid tier: 'gold'. Valid tiers: free, dev, pro, enterprise" {
		t.Fatalf("message %q", msg)
	}
	want(t, e.admin("POST", "/api/admin/tenants", `{"name":"beta"}`), 201)
	r = e.admin("GET", "/api/admin/tenants", "")
	want(t, r, 200)
	ts := r.json(t)["tenants"].([]any)
	if len(ts) != 2 || ts[0].(map[string]any)["agent_count"] != float64(0) || ts[1].(map[string]any)["tier"] != "free" {
		t.Fatalf("tenants %v", ts)
	}
	// Details count keys, runs and tokens.
	r = e.admin("POST", "/api/admin/tenants/"+id+"/api-keys", `{"name":"k1"}`)
	want(t, r, 201)
	key := r.json(t)["raw_key"].(string)
	want(t, e.chat(key), 200)
	r = e.admin("GET", "/api/admin/tenants/"+id, "")
	want(t, r, 200)
	m = r.json(t)
	if m["api_key_count"] != float64(1) || m["total_runs"] != float64(1) || m["total_tokens"] != float64(12) || m["agent_count"] != float64(0) {
		t.Fatalf("details %v", m)
	}
	r = e.admin("GET", "/api/admin/tenants/"+tenancy.NewID(), "")
	want(t, r, 404)
	if r.errMsg(t) != "Tenant not found" {
		t.Fatalf("body %s", r.body)
	}
	// Tier change.
	r = e.admin("PUT", "/api/admin/tenants/"+id+"/quota", `{"tier":"enterprise"}`)
	want(t, r, 200)
	if r.json(t)["tier"] != "enterprise" {
		t.Fatalf("body %s", r.body)
	}
	want(t, e.admin("PUT", "/api/admin/tenants/"+id+"/quota", `{"tier":"platinum"}`), 422)
	want(t, e.admin("PUT", "/api/admin/tenants/"+id+"/quota", `{}`), 400)
	want(t, e.admin("PUT", "/api/admin/tenants/nope/quota", `{"tier":"dev"}`), 404)
	// The audit log records who changed what.
	r = e.admin("GET", "/api/admin/audit-log?limit=10", "")
	want(t, r, 200)
	es := r.json(t)["entries"].([]any)
	first := es[0].(map[string]any)
	if first["action"] != "tenant.quota_updated" || first["actor"] != "admin" || first["details"].(map[string]any)["tier"] != "enterprise" {
		t.Fatalf("audit %v", es)
	}
	var actions []string
	for _, x := range es {
		actions = append(actions, x.(map[string]any)["action"].(string))
	}
	if strings.Join(actions, ",") != "tenant.quota_updated,api_key.created,tenant.created,tenant.created" {
		t.Fatalf("actions %v", actions)
	}
	want(t, e.admin("GET", "/api/admin/audit-log?limit=0", ""), 400)
}

func TestProvisionAndTemplates(t *testing.T) {
	e := newEnv(t, envOpts{})
	r := e.admin("POST", "/api/admin/provision-client", `{"name":"acme-corp","tier":"pro","product_type":"kasino","api_key_name":"production"}`)
	want(t, r, 201)
	m := r.json(t)
	key, _ := m["raw_api_key"].(string)
	agents := m["agents_created"].([]any)
	if m["tenant_name"] != "acme-corp" || m["tier"] != "pro" || m["product_type"] != "kasino" || !strings.HasPrefix(key, "ares_") ||
		m["api_key_prefix"] != key[:9] || len(agents) != 4 || agents[0] != "kasino-classifier" {
		t.Fatalf("provisioned %v", m)
	}
	want(t, e.withKey(key, "GET", "/v1/usage", ""), 200)
	r = e.admin("GET", "/api/admin/tenants/"+m["tenant_id"].(string), "")
	if r.json(t)["agent_count"] != float64(4) {
		t.Fatalf("details %s", r.body)
	}
	// A taken name provisions nothing.
	want(t, e.admin("POST", "/api/admin/provision-client", `{"name":"acme-corp","tier":"dev","product_type":"generic","api_key_name":"p"}`), 409)
	r = e.admin("GET", "/api/admin/tenants", "")
	if n := len(r.json(t)["tenants"].([]any)); n != 1 {
		t.Fatalf("%d tenants after a failed provisioning", n)
	}
	for body, status := range map[string]int{
		`{"tier":"pro","product_type":"kasino","api_key_name":"p"}`:               400,
		`{"name":"a","tier":"pro","product_type":"kasino"}`:                       400,
		`{"name":"a","tier":"pro","product_type":"casino","api_key_name":"p"}`:    422,
		`{"name":"a","tier":"golden","product_type":"kasino","api_key_name":"p"}`: 422,
	} {
		want(t, e.admin("POST", "/api/admin/provision-client", body), status)
	}
	r = e.admin("GET", "/api/admin/agent-templates?product_type=kasino", "")
	want(t, r, 200)
	tpl := r.json(t)["templates"].([]any)
	if len(tpl) != 4 || tpl[0].(map[string]any)["config"].(map[string]any)["system_prompt"] == "" {
		t.Fatalf("templates %v", tpl)
	}
	want(t, e.admin("GET", "/api/admin/agent-templates?product_type=nope", ""), 422)
	r = e.admin("GET", "/api/admin/stats", "")
	want(t, r, 200)
	if s := r.json(t); s["total_tenants"] != float64(1) || s["total_agents"] != float64(4) {
		t.Fatalf("stats %v", s)
	}
}

func TestKeys(t *testing.T) {
	e := newEnv(t, envOpts{})
	idA, keyA := e.tenant("a", "pro")
	idB, keyB := e.tenant("b", "pro")
	// Listings never carry a secret.
	r := e.admin("GET", "/api/admin/tenants/"+idA+"/api-keys", "")
	want(t, r, 200)
	if strings.Contains(string(r.body), keyA) || strings.Contains(string(r.body), "raw_key") || strings.Contains(string(r.body), "hash") {
		t.Fatalf("listing leaks: %s", r.body)
	}
	want(t, e.admin("GET", "/api/admin/tenants/nope/api-keys", ""), 404)
	want(t, e.admin("POST", "/api/admin/tenants/nope/api-keys", `{"name":"x"}`), 404)
	want(t, e.admin("POST", "/api/admin/tenants/"+idA+"/api-keys", `{}`), 400)
	// Self-service: create with expiry, list, last_used, revoke.
	r = e.withKey(keyA, "POST", "/v1/api-keys", `{"name":"mobile","expires_in_days":365}`)
	want(t, r, 201)
	m := r.json(t)
	second, secondID := m["secret"].(string), m["key"].(string)
	if !strings.HasPrefix(second, "ares_") || m["expires_at"] != "2027-03-13T10:00:00Z" || m["raw_key"] != second {
		t.Fatalf("created %v", m)
	}
	want(t, e.withKey(keyA, "POST", "/v1/api-keys", `{"name":"x","expires_in_days":-1}`), 422)
	e.clock.add(2 * time.Minute)
	want(t, e.withKey(second, "GET", "/v1/models", ""), 200)
	r = e.withKey(keyA, "GET", "/v1/api-keys", "")
	want(t, r, 200)
	keys := r.json(t)["keys"].([]any)
	if len(keys) != 2 {
		t.Fatalf("keys %v", keys)
	}
	k2 := keys[1].(map[string]any)
	if k2["name"] != "mobile" || k2["last_used"] != "2026-03-13T10:02:00Z" || k2["prefix"] != second[:9] {
		t.Fatalf("key %v", k2)
	}
	// Tenant B cannot see or revoke A's key: 404, and the key still works.
	r = e.withKey(keyB, "DELETE", "/v1/api-keys/"+secondID, "")
	want(t, r, 404)
	want(t, e.withKey(second, "GET", "/v1/models", ""), 200)
	r = e.withKey(keyB, "GET", "/v1/api-keys", "")
	if strings.Contains(string(r.body), secondID) {
		t.Fatalf("tenant b lists a's key: %s", r.body)
	}
	want(t, e.admin("DELETE", "/api/admin/tenants/"+idB+"/api-keys/"+secondID, ""), 404)
	want(t, e.withKey(keyA, "DELETE", "/v1/api-keys/"+secondID, ""), 204)
	r = e.withKey(second, "GET", "/v1/models", "")
	want(t, r, 401)
	if r.json(t)["error"].(map[string]any)["code"] != "invalid_api_key" {
		t.Fatalf("revoked: %s", r.body)
	}
	// Expiry.
	r = e.withKey(keyA, "POST", "/v1/api-keys", `{"name":"short","expires_in_days":1}`)
	short := r.json(t)["secret"].(string)
	want(t, e.withKey(short, "GET", "/v1/usage", ""), 200)
	e.clock.add(24 * time.Hour)
	r = e.withKey(short, "GET", "/v1/usage", "")
	want(t, r, 401)
	if r.errMsg(t) != "API key expired" || r.json(t)["code"] != "AUTH_KEY_EXPIRED" {
		t.Fatalf("expired: %s", r.body)
	}
	// Wrong keys.
	for _, k := range []string{"ares_" + strings.Repeat("x", 40), keyA + "x", "sk-whatever", keyA[:len(keyA)-1]} {
		r = e.withKey(k, "GET", "/v1/usage", "")
		want(t, r, 401)
		if r.json(t)["code"] != "AUTH_INVALID_KEY" {
			t.Fatalf("%s: %s", k, r.body)
		}
	}
	r = e.req("GET", "/v1/usage", "")
	want(t, r, 401)
	if r.errMsg(t) != "Missing authorization header" || r.json(t)["code"] != "AUTH_MISSING" {
		t.Fatalf("%s", r.body)
	}
	// Only hashes are stored.
	if k, err := e.store.KeyByHash(context.Background(), tenancy.HashSecret(keyA)); err != nil || strings.Contains(fmt.Sprint(k), keyA) {
		t.Fatalf("stored key %+v, %v", k, err)
	}
}

func TestModes(t *testing.T) {
	open := newEnv(t, envOpts{open: true})
	r := open.req("POST", "/v1/chat/completions", chatBody, "Authorization", "Bearer anything")
	want(t, r, 200)
	if r.header.Get("X-RateLimit-Limit") != "" {
		t.Fatal("open mode without a tenant key is metered")
	}
	want(t, open.req("GET", "/v1/models", ""), 200)
	_, key := open.tenant("a", "free")
	r = open.chat(key)
	want(t, r, 200)
	if r.header.Get("X-RateLimit-Remaining") != "99" {
		t.Fatalf("open mode with a tenant key: headers %v", r.header)
	}
	want(t, open.req("GET", "/v1/usage", ""), 401) // self-service always needs a key
	// Other /api/* routes (served by others) pass in open mode with any bearer, and need
	// a JWT or key in auth mode.
	if r := open.req("GET", "/api/elsewhere", "", "Authorization", "Bearer anything"); r.status == 401 {
		t.Fatalf("open mode /api with a foreign bearer: %s", r.body)
	}
	want(t, open.req("GET", "/api/admin/stats", ""), 401)

	auth := newEnv(t, envOpts{})
	for _, path := range []string{"/v1/models", "/v1/status", "/v1/chat/completions", "/v1/anything"} {
		r := auth.req("GET", path, "")
		want(t, r, 401)
		m := r.json(t)["error"].(map[string]any)
		if m["type"] != "authentication_error" || m["message"] != "Missing authorization header" {
			t.Fatalf("%s: %s", path, r.body)
		}
		r = auth.req("GET", path, "", "Authorization", "Bearer sk-not-a-tenant-key")
		want(t, r, 401)
		if r.json(t)["error"].(map[string]any)["code"] != "invalid_api_key" {
			t.Fatalf("%s: %s", path, r.body)
		}
	}
	want(t, auth.req("GET", "/api/elsewhere", ""), 401)
	want(t, auth.req("GET", "/api/elsewhere", "", "Authorization", "Bearer anything"), 401)
	if r := auth.req("GET", "/health", ""); r.status == 401 {
		t.Fatal("/health needs a key")
	}
	want(t, auth.req("OPTIONS", "/v1/chat/completions", ""), 204) // CORS preflight
}

func TestUsageIsExact(t *testing.T) {
	e := newEnv(t, envOpts{})
	id, key := e.tenant("a", "free")
	total := int64(0)
	for range 3 {
		r := e.chat(key)
		want(t, r, 200)
		u := r.json(t)["usage"].(map[string]any)
		total += num(u["total_tokens"])
	}
	// n=2: each choice evaluates the prompt, and is billed for it (the response's usage
	// counts the prompt once, as OpenAI's does).
	r := e.withKey(key, "POST", "/v1/chat/completions", `{"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":3,"n":2}`)
	want(t, r, 200)
	if got := num(r.json(t)["usage"].(map[string]any)["total_tokens"]); got != 7+2*3 {
		t.Fatalf("n=2 usage %d", got)
	}
	total += 2 * (7 + 3)
	// A stream read to the end.
	r = e.withKey(key, "POST", "/v1/chat/completions", `{"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":4,"stream":true}`)
	want(t, r, 200)
	total += 7 + 4
	if total != 3*12+2*7+2*3+11 {
		t.Fatalf("responses reported %d tokens", total)
	}
	if r.header.Get("X-Quota-Tokens-Remaining") == "" {
		t.Fatal("stream without quota headers")
	}
	u := e.usage(key)
	if num(u["total_tokens"]) != total || num(u["total_runs"]) != 5 || num(u["quota_runs"]) != 1000 || num(u["quota_tokens"]) != 100000 ||
		u["period_start"] != "2026-03-01T00:00:00Z" || u["period_end"] != "2026-03-31T23:59:59Z" {
		t.Fatalf("usage %v (want %d tokens)", u, total)
	}
	daily := u["daily_usage"].([]any)
	d0 := daily[0].(map[string]any)
	if len(daily) != 1 || d0["date"] != "2026-03-13" || num(d0["tokens"]) != total || num(d0["runs"]) != 5 || num(d0["api_calls"]) != 6 {
		t.Fatalf("daily %v", daily)
	}
	r = e.admin("GET", "/api/admin/tenants/"+id+"/usage", "")
	want(t, r, 200)
	if m := r.json(t); num(m["total_tokens"]) != total || m["tenant_name"] != "a" || m["tier"] != "free" {
		t.Fatalf("admin usage %v", m)
	}
	e.clock.add(24 * time.Hour)
	want(t, e.chat(key), 200)
	r = e.admin("GET", "/api/admin/tenants/"+id+"/usage/daily?days=2", "")
	want(t, r, 200)
	days := r.json(t)["daily"].([]any)
	if len(days) != 2 || days[0].(map[string]any)["date"] != "2026-03-14" || num(days[0].(map[string]any)["tokens"]) != 12 {
		t.Fatalf("daily %v", days)
	}
	r = e.admin("GET", "/api/admin/tenants/"+id+"/usage/daily?days=1", "")
	if n := len(r.json(t)["daily"].([]any)); n != 1 {
		t.Fatalf("days=1 gave %d days", n)
	}
	want(t, e.admin("GET", "/api/admin/tenants/"+id+"/usage/daily?days=abc", ""), 400)
	want(t, e.admin("GET", "/api/admin/tenants/nope/usage", ""), 404)
}

func TestAbortedStreamIsBilled(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, key := e.tenant("a", "free")
	e.backend.set(func(b *scriptBackend) { b.tokens, b.delay = 1000, 5*time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", e.ts.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":1000,"stream":true}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := readEvents(t, res, 10); got != 10 {
		t.Fatalf("read %d events", got)
	}
	cancel()
	res.Body.Close()
	select {
	case <-e.backend.done:
	case <-time.After(10 * time.Second):
		t.Fatal("generation did not stop after the client left")
	}
	emitted := e.backend.emitted.Load()
	if emitted < 10 || emitted >= 1000 {
		t.Fatalf("emitted %d tokens", emitted)
	}
	// Settlement runs as the handler returns; poll briefly (bounded).
	var billed int64
	for range 100 {
		u := e.usage(key)
		if billed = num(u["total_tokens"]); billed > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if billed != 7+emitted {
		t.Fatalf("billed %d tokens, the kernel used 7 + %d", billed, emitted)
	}
}

func TestRefundAndIdempotency(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, key := e.tenant("a", "free")
	e.backend.set(func(b *scriptBackend) { b.failErr = errBoom })
	r := e.chat(key)
	if r.status < 500 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if u := e.usage(key); num(u["total_runs"]) != 0 {
		t.Fatalf("a server failure with no tokens was billed: %v", u)
	}
	e.backend.set(func(b *scriptBackend) { b.failErr = nil })
	// A 4xx is a request.
	want(t, e.withKey(key, "POST", "/v1/chat/completions", `{"model":"nope","messages":[{"role":"user","content":"x"}]}`), 404)
	// The same Idempotency-Key twice is one request.
	want(t, e.chat(key, "Idempotency-Key", "retry-abc"), 200)
	r = e.chat(key, "Idempotency-Key", "retry-abc")
	want(t, r, 200)
	u := e.usage(key)
	if num(u["total_runs"]) != 2 || num(u["total_tokens"]) != 24 {
		t.Fatalf("usage %v", u)
	}
	if r.header.Get("X-RateLimit-Remaining") != "98" {
		t.Fatalf("remaining %q", r.header.Get("X-RateLimit-Remaining"))
	}
}

func TestQuotaWindows(t *testing.T) {
	e := newEnv(t, envOpts{})
	id, key := e.tenant("a", "free")
	ctx := context.Background()
	admitN := func(n int) {
		for range n {
			tk, err := e.svc.Admit(ctx, id, "", "", true)
			if err != nil {
				t.Fatal(err)
			}
			tk.Settle(0, false)
		}
	}
	// Daily limit: 100 on the free tier.
	admitN(99)
	r := e.withKey(key, "GET", "/v1/models", "")
	want(t, r, 200)
	if h := r.header; h.Get("X-RateLimit-Limit") != "100" || h.Get("X-RateLimit-Remaining") != "0" ||
		h.Get("X-RateLimit-Reset") != "2026-03-14T00:00:00Z" || h.Get("X-Quota-Tokens-Remaining") != "100000" {
		t.Fatalf("headers %v", h)
	}
	r = e.withKey(key, "GET", "/v1/models", "")
	want(t, r, 429)
	oe := r.json(t)["error"].(map[string]any)
	if oe["type"] != "rate_limit_error" || oe["message"] != "Daily request limit reached for your tier" {
		t.Fatalf("429 %s", r.body)
	}
	if r.header.Get("Retry-After") != strconv.Itoa(14*3600) || r.header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("headers %v", r.header)
	}
	// Self-service endpoints still answer.
	want(t, e.withKey(key, "GET", "/v1/usage", ""), 200)
	// A tier change takes effect at once.
	want(t, e.admin("PUT", "/api/admin/tenants/"+id+"/quota", `{"tier":"dev"}`), 200)
	r = e.withKey(key, "GET", "/v1/models", "")
	want(t, r, 200)
	if r.header.Get("X-RateLimit-Limit") != "1000" {
		t.Fatalf("headers %v", r.header)
	}
	want(t, e.admin("PUT", "/api/admin/tenants/"+id+"/quota", `{"tier":"free"}`), 200)
	want(t, e.withKey(key, "GET", "/v1/models", ""), 429)
	// Next UTC day: open again.
	e.clock.set(time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC))
	want(t, e.withKey(key, "GET", "/v1/models", ""), 200)
	// Monthly requests: 1000 (the 101 above included).
	for d := 15; d <= 22; d++ {
		e.clock.set(time.Date(2026, 3, d, 12, 0, 0, 0, time.UTC))
		admitN(100)
	}
	e.clock.set(time.Date(2026, 3, 23, 12, 0, 0, 0, time.UTC))
	admitN(1000 - 102 - 800)
	r = e.withKey(key, "GET", "/v1/models", "")
	want(t, r, 429)
	if r.errMsg(t) != "Monthly request quota exceeded" {
		t.Fatalf("%s", r.body)
	}
	if ra := r.header.Get("Retry-After"); ra != strconv.Itoa(int(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC).Sub(e.clock.Now())/time.Second)) {
		t.Fatalf("Retry-After %s", ra)
	}
	// ARES endpoints answer in the ARES shape.
	e.clock.set(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC))
	want(t, e.withKey(key, "GET", "/v1/models", ""), 200)
	// Monthly tokens: one big request uses them up.
	e.backend.set(func(b *scriptBackend) { b.prompt = 100_000 })
	r = e.chat(key)
	want(t, r, 200)
	e.backend.set(func(b *scriptBackend) { b.prompt = 7 })
	r = e.chat(key)
	want(t, r, 429)
	if r.errMsg(t) != "Monthly token quota exceeded" {
		t.Fatalf("%s", r.body)
	}
	if r.header.Get("X-Quota-Tokens-Remaining") != "0" {
		t.Fatalf("headers %v", r.header)
	}
	e.clock.set(time.Date(2026, 5, 1, 0, 0, 1, 0, time.UTC))
	want(t, e.chat(key), 200)
	// Enterprise: unlimited.
	want(t, e.admin("PUT", "/api/admin/tenants/"+id+"/quota", `{"tier":"enterprise"}`), 200)
	r = e.chat(key)
	want(t, r, 200)
	if r.header.Get("X-RateLimit-Limit") != "unlimited" {
		t.Fatalf("headers %v", r.header)
	}
}

// 50 concurrent requests against 10 remaining: exactly 10 run.
func TestConcurrentAdmission(t *testing.T) {
	e := newEnv(t, envOpts{})
	testConcurrent(t, e, []string{e.ts.URL})
}

func testConcurrent(t *testing.T, e *env, gateways []string) {
	id, key := e.tenant("a", "free")
	for range 90 {
		tk, err := e.svc.Admit(context.Background(), id, "", "", true)
		if err != nil {
			t.Fatal(err)
		}
		tk.Settle(0, false)
	}
	calls := e.backend.calls.Load()
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := doReq(t, gateways[i%len(gateways)], "POST", "/v1/chat/completions", chatBody, "Authorization", "Bearer "+key)
			mu.Lock()
			codes[r.status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[200] != 10 || codes[429] != 40 {
		t.Fatalf("statuses %v, want 10×200 and 40×429", codes)
	}
	if ran := e.backend.calls.Load() - calls; ran != 10 {
		t.Fatalf("%d generations ran", ran)
	}
	if u := e.usage(key); num(u["total_runs"]) != 100 || num(u["total_tokens"]) != 120 {
		t.Fatalf("usage %v", u)
	}
}

func TestUsersAndTokens(t *testing.T) {
	e := newEnv(t, envOpts{})
	r := e.req("POST", "/api/auth/register", `{"email":"Dev@Example.com","password":"correct horse","name":"Jane"}`)
	want(t, r, 201)
	m := r.json(t)
	if m["message"] != "Registration successful" || !strings.HasPrefix(m["user_id"].(string), "usr_") || m["tenant_id"] == "" {
		t.Fatalf("register %v", m)
	}
	want(t, e.req("POST", "/api/auth/register", `{"email":"dev@example.com","password":"another pass"}`), 409)
	want(t, e.req("POST", "/api/auth/register", `{"email":"x@example.com","password":"short"}`), 422)
	want(t, e.req("POST", "/api/auth/register", `{"email":"not-an-email","password":"long enough"}`), 422)
	want(t, e.req("POST", "/api/auth/register", `{"password":"long enough"}`), 400)
	// Joining a tenant needs its key or the admin secret.
	tid, key := e.tenant("acme", "pro")
	want(t, e.req("POST", "/api/auth/register", `{"email":"b@example.com","password":"long enough","tenant_id":"`+tid+`"}`), 403)
	r = e.withKey(key, "POST", "/api/auth/register", `{"email":"b@example.com","password":"long enough"}`)
	want(t, r, 201)
	if r.json(t)["tenant_id"] != tid {
		t.Fatalf("joined %s", r.body)
	}

	r = e.req("POST", "/api/auth/login", `{"email":"dev@example.com","password":"wrong password"}`)
	want(t, r, 401)
	want(t, e.req("POST", "/api/auth/login", `{"email":"nobody@example.com","password":"whatever12"}`), 401)
	r = e.req("POST", "/api/auth/login", `{"email":"dev@example.com","password":"correct horse"}`)
	want(t, r, 200)
	m = r.json(t)
	access, refresh := m["access_token"].(string), m["refresh_token"].(string)
	if m["expires_in"] != float64(900) || !strings.HasPrefix(refresh, "rt_") {
		t.Fatalf("login %v", m)
	}
	r = e.req("GET", "/api/auth/me", "", "Authorization", "Bearer "+access)
	want(t, r, 200)
	if r.json(t)["email"] != "dev@example.com" {
		t.Fatalf("me %s", r.body)
	}
	want(t, e.req("GET", "/api/auth/me", ""), 401)
	// Forged: another secret, alg none, a changed claim.
	parts := strings.Split(access, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	forged := tenancy.SignJWT([]byte("another-secret-another-secret-1234"), tenancy.Claims{Subject: "usr_x", Expires: e.clock.Now().Add(time.Hour).Unix(), Type: "access"})
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	changed := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(claims), `"tid":"`, `"tid":"x`, 1))) + "." + parts[2]
	for _, tok := range []string{none, forged, changed, "garbage", access + "x"} {
		r = e.req("GET", "/api/auth/me", "", "Authorization", "Bearer "+tok)
		want(t, r, 401)
		if r.json(t)["code"] != "AUTH_INVALID_TOKEN" {
			t.Fatalf("%s: %s", tok, r.body)
		}
	}
	// A JWT is not a /v1 key.
	want(t, e.req("GET", "/v1/models", "", "Authorization", "Bearer "+access), 401)
	// Refresh rotates; the old refresh token is spent.
	e.clock.add(16 * time.Minute)
	want(t, e.req("GET", "/api/auth/me", "", "Authorization", "Bearer "+access), 401)
	r = e.req("POST", "/api/auth/refresh", `{"refresh_token":"`+refresh+`"}`)
	want(t, r, 200)
	m = r.json(t)
	access2, refresh2 := m["access_token"].(string), m["refresh_token"].(string)
	want(t, e.req("GET", "/api/auth/me", "", "Authorization", "Bearer "+access2), 200)
	want(t, e.req("POST", "/api/auth/refresh", `{"refresh_token":"`+refresh+`"}`), 401)
	want(t, e.req("POST", "/api/auth/refresh", `{}`), 400)
	want(t, e.req("POST", "/api/auth/logout", `{"refresh_token":"`+refresh2+`"}`), 200)
	want(t, e.req("POST", "/api/auth/refresh", `{"refresh_token":"`+refresh2+`"}`), 401)
	want(t, e.req("GET", "/api/auth/login", ""), 405)
	// Passwords are stored as bcrypt hashes.
	u, err := e.store.UserByEmail(context.Background(), "dev@example.com")
	if err != nil || !strings.HasPrefix(string(u.PasswordHash), "$2") || strings.Contains(string(u.PasswordHash), "correct horse") {
		t.Fatalf("stored %q, %v", u.PasswordHash, err)
	}
}

func TestAlertsAndStats(t *testing.T) {
	e := newEnv(t, envOpts{})
	id, key := e.tenant("acme", "free")
	e.backend.set(func(b *scriptBackend) { b.prompt = 85_000 - 5 })
	want(t, e.chat(key), 200)
	r := e.admin("GET", "/api/admin/alerts", "")
	want(t, r, 200)
	as := r.json(t)["alerts"].([]any)
	if len(as) != 1 {
		t.Fatalf("alerts %v", as)
	}
	a := as[0].(map[string]any)
	if a["severity"] != "warning" || a["message"] != "Tenant acme approaching token quota (85%)" || a["tenant_id"] != id || a["resolved"] != false {
		t.Fatalf("alert %v", a)
	}
	e.backend.set(func(b *scriptBackend) { b.prompt = 7_000 - 5 })
	want(t, e.chat(key), 200)
	want(t, e.chat(key), 200) // still 92%: no second critical alert
	r = e.admin("GET", "/api/admin/alerts?severity=critical&resolved=false", "")
	crit := r.json(t)["alerts"].([]any)
	if len(crit) != 1 || !strings.Contains(crit[0].(map[string]any)["message"].(string), "(92%)") {
		t.Fatalf("critical %v", crit)
	}
	r = e.admin("GET", "/api/admin/stats", "")
	st := r.json(t)
	if st["active_alerts"] != float64(2) || st["total_runs_today"] != float64(3) || st["total_tokens_today"] != float64(85_000+7_000+7_000) || st["total_tenants"] != float64(1) {
		t.Fatalf("stats %v", st)
	}
	r = e.admin("POST", "/api/admin/alerts/"+a["id"].(string)+"/resolve", "")
	want(t, r, 200)
	if r.json(t)["resolved"] != true {
		t.Fatalf("%s", r.body)
	}
	want(t, e.admin("POST", "/api/admin/alerts/nope/resolve", ""), 404)
	r = e.admin("GET", "/api/admin/alerts?resolved=false", "")
	if n := len(r.json(t)["alerts"].([]any)); n != 1 {
		t.Fatalf("%d unresolved", n)
	}
	want(t, e.admin("GET", "/api/admin/alerts?severity=loud", ""), 400)
	want(t, e.admin("GET", "/api/admin/alerts?resolved=maybe", ""), 400)
	// Repeated auth failures from one address raise an alert.
	for range 10 {
		want(t, e.withKey("ares_wrongwrongwrong", "GET", "/v1/models", ""), 401)
	}
	r = e.admin("GET", "/api/admin/alerts?severity=warning&resolved=false", "")
	found := false
	for _, x := range r.json(t)["alerts"].([]any) {
		if strings.HasPrefix(x.(map[string]any)["message"].(string), "Repeated authentication failures from 127.0.0.1") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no auth-failure alert: %s", r.body)
	}
}

func TestIPLimit(t *testing.T) {
	e := newEnv(t, envOpts{ipLimit: 3}) // a burst of 3, then one every 20 s
	for range 3 {
		want(t, e.req("GET", "/metrics", ""), 200)
	}
	r := e.req("GET", "/metrics", "")
	want(t, r, 429)
	if r.errMsg(t) != "Rate limit exceeded" || r.header.Get("Retry-After") != "20" {
		t.Fatalf("%v %s", r.header, r.body)
	}
	r = e.req("GET", "/v1/models", "")
	want(t, r, 429)
	if r.json(t)["error"].(map[string]any)["type"] != "rate_limit_error" {
		t.Fatalf("%s", r.body)
	}
	e.clock.add(15 * time.Second)
	r = e.req("GET", "/metrics", "")
	want(t, r, 429)
	if r.header.Get("Retry-After") != "5" {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	e.clock.add(5 * time.Second)
	want(t, e.req("GET", "/metrics", ""), 200)
	want(t, e.req("GET", "/metrics", ""), 429)
}

// A database that is gone never grants access and never answers with a stack.
func TestDatabaseDown(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, key := e.tenant("a", "free")
	e.db.Close()
	r := e.chat(key)
	want(t, r, 503)
	if oe := r.json(t)["error"].(map[string]any); oe["type"] != "service_unavailable" || strings.Contains(string(r.body), "goroutine") {
		t.Fatalf("%s", r.body)
	}
	r = e.admin("GET", "/api/admin/tenants", "")
	want(t, r, 503)
	if r.json(t)["code"] != "SERVICE_UNAVAILABLE" {
		t.Fatalf("%s", r.body)
	}
	want(t, e.withKey(key, "GET", "/v1/usage", ""), 503)
	want(t, e.req("POST", "/api/auth/login", `{"email":"a@b.cd","password":"whatever12"}`), 503)
}

// Every OpenAI endpoint that runs the kernel is metered: legacy completions too.
func TestCompletionsAreMetered(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, key := e.tenant("a", "free")
	r := e.withKey(key, "POST", "/v1/completions", `{"model":"tiny","prompt":["one","two"],"max_tokens":3}`)
	want(t, r, 200)
	if r.header.Get("X-RateLimit-Remaining") != "99" {
		t.Fatalf("headers %v", r.header)
	}
	got := num(r.json(t)["usage"].(map[string]any)["total_tokens"])
	if u := e.usage(key); num(u["total_tokens"]) != 2*(7+3) || num(u["total_runs"]) != 1 {
		t.Fatalf("usage %v (response reported %d)", u, got)
	}
	want(t, e.req("POST", "/v1/completions", `{"model":"tiny","prompt":"x"}`), 401)
}
