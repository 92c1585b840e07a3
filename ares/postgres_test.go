package ares

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/aria-node/aria/storage/postgres"
	"github.com/aria-node/aria/storage/postgres/pgtest"
	"github.com/aria-node/aria/tenancy"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func openPG(t testing.TB) tenancy.Store {
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
