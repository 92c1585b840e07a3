package ares

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/aria-node/aria/agents"
	"github.com/aria-node/aria/providers"
	"github.com/aria-node/aria/providers/upstreamtest"
	"github.com/aria-node/aria/storage/postgres"
	"github.com/aria-node/aria/storage/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// openPG opens a store on a fresh database of the test cluster, closed when the test ends.
func openPG(t testing.TB) *postgres.Store {
	t.Helper()
	url := pgtest.URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Two gateways share one PostgreSQL: 50 concurrent requests spread over both against
// 10 remaining still run exactly 10.
func TestConcurrentAdmissionTwoGateways(t *testing.T) {
	e := newEnv(t, envOpts{store: openPG(t)})
	second := e.serve(envOpts{})
	testConcurrent(t, e, []string{e.ts.URL, second.URL})
}

// The HTTP surface behaves the same on PostgreSQL.
func TestUsageIsExactPostgres(t *testing.T) {
	e := newEnv(t, envOpts{store: openPG(t)})
	id, key := e.tenant("pg", "free")
	want(t, e.chat(key), 200)
	want(t, e.chat(key, "Idempotency-Key", "k1"), 200)
	want(t, e.chat(key, "Idempotency-Key", "k1"), 200)
	u := e.usage(key)
	if num(u["total_runs"]) != 2 || num(u["total_tokens"]) != 36 || num(u["total_api_calls"]) != 4 {
		t.Fatalf("usage %v", u)
	}
	r := e.admin("GET", "/api/admin/tenants/"+id, "")
	if m := r.json(t); num(m["total_tokens"]) != 36 || num(m["api_key_count"]) != 1 {
		t.Fatalf("details %v", m)
	}
}

// Chat, conversations, the tool loop and runs behave the same on PostgreSQL.
func TestARESChatPostgres(t *testing.T) {
	e := newAgentEnv(t, agents.LoopConfig{}, envOpts{store: openPG(t)})
	_, key := e.tenant("pg", "pro")
	_, other := e.tenant("pg2", "pro")
	var call providers.ToolCall
	call.ID, call.Type, call.Function.Name, call.Function.Arguments = "c1", "function", "calculator", `{"expression":"6*7"}`
	e.up.Enqueue(upstreamtest.Reply{ToolCalls: []providers.ToolCall{call}}, upstreamtest.Reply{Content: "42."}, upstreamtest.Reply{Content: "Still 42."})
	r := e.withKey(key, "POST", "/v1/chat", `{"message": "6 times 7?", "agent_type": "analyst"}`)
	want(t, r, 200)
	ctxID := r.json(t)["context_id"].(string)
	r = e.withKey(key, "POST", "/v1/chat", `{"message": "Sure?", "context_id": "`+ctxID+`"}`)
	want(t, r, 200)
	if msgs := e.lastChat(t).Messages; len(msgs) != 4 || msgs[2].Content != "42." {
		t.Fatalf("history %+v", msgs)
	}
	want(t, e.withKey(other, "POST", "/v1/chat", `{"message": "x", "context_id": "`+ctxID+`"}`), 404)
	r = e.withKey(key, "GET", "/v1/agents/analyst/runs", "")
	want(t, r, 200)
	if m := r.json(t); num(m["total"]) != 2 || len(m["runs"].([]any)[1].(map[string]any)["steps"].([]any)) != 3 {
		t.Fatalf("runs %s", r.body)
	}
	if m := e.withKey(key, "GET", "/v1/agents/analyst", "").json(t); num(m["total_runs"]) != 2 || m["success_rate"] != float64(1) {
		t.Fatalf("agent %v", m)
	}
}
