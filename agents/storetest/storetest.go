// Package storetest is the behaviour every agents.Store must have; storage/bolt and
// storage/postgres run it.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aria-node/aria/agents"
	"github.com/aria-node/aria/internal/storesuite"
	"github.com/aria-node/aria/tenancy"
)

// Open returns an empty store, and creates tenants (stores with foreign keys need them).
type Open func(t *testing.T) (agents.Store, func(tenantID string))

// Run runs the suite.
func Run(t *testing.T, open Open) {
	storesuite.Run(t, func(t *testing.T) fixture {
		s, mk := open(t)
		return fixture{s, mk}
	}, []storesuite.Case[fixture]{
		{Name: "Agents", Fn: withTenants(testAgents)},
		{Name: "Runs", Fn: withTenants(testRuns)},
		{Name: "Conversations", Fn: withTenants(testConversations)},
	})
}

// fixture is a fresh store and its tenant maker.
type fixture struct {
	store    agents.Store
	mkTenant func(tenantID string)
}

// withTenants adapts a case that takes the store and the tenant maker.
func withTenants(fn func(*testing.T, agents.Store, func(string))) func(*testing.T, fixture) {
	return func(t *testing.T, f fixture) { fn(t, f.store, f.mkTenant) }
}

// The suites' shared clock and helpers.
var (
	t0      = storesuite.T0
	must    = storesuite.Must
	wantErr = storesuite.WantErr
)

func agent(tenant, name string) agents.Agent {
	return agents.Agent{ID: tenancy.NewID(), TenantID: tenant, Name: name, AgentType: "analyst", CreatedAt: t0,
		Config: agents.Config{Model: "fast", SystemPrompt: "p " + name, Tools: []string{"calculator"}, MaxTokens: 100,
			Collections: []string{"docs"}, OwnerID: "u1", Toon: &agents.Toon{Role: "analyst", Constraints: []string{"c"}}}}
}

func testAgents(t *testing.T, s agents.Store, mk func(string)) {
	ctx := context.Background()
	a, b := tenancy.NewID(), tenancy.NewID()
	mk(a)
	mk(b)
	x := agent(a, "x")
	must(t, s.CreateAgent(ctx, x))
	wantErr(t, s.CreateAgent(ctx, agent(a, "x")), agents.ErrConflict)
	must(t, s.CreateAgent(ctx, agent(b, "x"))) // names are per tenant
	must(t, s.CreateAgent(ctx, agent(a, "a-first")))
	got, err := s.Agent(ctx, a, "x")
	must(t, err)
	gj, _ := json.Marshal(got)
	xj, _ := json.Marshal(x)
	if string(gj) != string(xj) {
		t.Fatalf("round trip\n got %s\nwant %s", gj, xj)
	}
	_, err = s.Agent(ctx, a, "nope")
	wantErr(t, err, agents.ErrNotFound)
	list, err := s.Agents(ctx, a)
	must(t, err)
	if len(list) != 2 || list[0].Name != "a-first" || list[1].Name != "x" {
		t.Fatalf("list %+v", list)
	}
	x.Config.SystemPrompt, x.UpdatedAt = "changed", t0.Add(time.Hour)
	must(t, s.UpdateAgent(ctx, x))
	got, _ = s.Agent(ctx, a, "x")
	if got.Config.SystemPrompt != "changed" || !got.UpdatedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("update %+v", got)
	}
	if other, _ := s.Agent(ctx, b, "x"); other.Config.SystemPrompt == "changed" {
		t.Fatal("update reached another tenant")
	}
	wantErr(t, s.UpdateAgent(ctx, agent(a, "ghost")), agents.ErrNotFound)
	all, err := s.AllAgents(ctx)
	must(t, err)
	if len(all) != 3 {
		t.Fatalf("all %d", len(all))
	}
	wantErr(t, s.DeleteAgent(ctx, b, "a-first"), agents.ErrNotFound)
	must(t, s.DeleteAgent(ctx, a, "x"))
	wantErr(t, s.DeleteAgent(ctx, a, "x"), agents.ErrNotFound)
	if _, err := s.Agent(ctx, b, "x"); err != nil {
		t.Fatal("delete reached another tenant")
	}
}

func run(tenant, name string, i int, ok bool) agents.Run {
	r := agents.Run{ID: tenancy.NewID(), TenantID: tenant, AgentID: "aid", AgentName: name, Status: "completed",
		Input: json.RawMessage(`{"message":"m"}`), Output: map[string]any{"response": fmt.Sprint(i)},
		StartedAt: t0.Add(time.Duration(i) * time.Minute), DurationMS: int64(10 * i), TokensUsed: int64(i),
		Steps: []agents.Step{{Kind: "final", Result: "r"}}}
	r.FinishedAt = r.StartedAt.Add(time.Second)
	if !ok {
		msg := "boom"
		r.Status, r.Error, r.Output = "failed", &msg, nil
	}
	return r
}

func testRuns(t *testing.T, s agents.Store, mk func(string)) {
	ctx := context.Background()
	a, b := tenancy.NewID(), tenancy.NewID()
	mk(a)
	mk(b)
	for i := 1; i <= 5; i++ {
		must(t, s.AddRun(ctx, run(a, "x", i, i != 3)))
	}
	must(t, s.AddRun(ctx, run(a, "y", 9, true)))
	must(t, s.AddRun(ctx, run(b, "x", 9, true)))
	rs, total, err := s.Runs(ctx, a, "x", 0, 2)
	must(t, err)
	if total != 5 || len(rs) != 2 || rs[0].TokensUsed != 5 || rs[1].TokensUsed != 4 {
		t.Fatalf("page 1: total %d %+v", total, rs)
	}
	if len(rs[0].Steps) != 1 || compact(rs[0].Input) != `{"message":"m"}` || !rs[0].StartedAt.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("run round trip %+v", rs[0])
	}
	rs, _, err = s.Runs(ctx, a, "x", 2, 2)
	must(t, err)
	if len(rs) != 2 || rs[0].Status != "failed" || rs[0].Error == nil || *rs[0].Error != "boom" {
		t.Fatalf("page 2 %+v", rs)
	}
	rs, _, _ = s.Runs(ctx, a, "x", 10, 2)
	if len(rs) != 0 {
		t.Fatalf("past the end %d", len(rs))
	}
	st, err := s.RunStats(ctx, a, "x")
	must(t, err)
	if st.TotalRuns != 5 || st.SuccessfulRuns != 4 || st.FailedRuns != 1 || st.TotalTokens != 15 || st.TotalDuration != 150 ||
		!st.LastRun.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("stats %+v", st)
	}
	st, err = s.RunStats(ctx, b, "y")
	must(t, err)
	if st.TotalRuns != 0 {
		t.Fatalf("another tenant's stats %+v", st)
	}
	_, total, _ = s.Runs(ctx, b, "x", 0, 10)
	if total != 1 {
		t.Fatalf("tenant b runs %d", total)
	}
}

func testConversations(t *testing.T, s agents.Store, mk func(string)) {
	ctx := context.Background()
	a, b := tenancy.NewID(), tenancy.NewID()
	mk(a)
	mk(b)
	c := agents.Conversation{ID: "ctx_1", TenantID: a, UserID: "u1", Title: "t", Agent: "product", CreatedAt: t0, UpdatedAt: t0,
		Messages: []agents.Message{{Role: "user", Content: "hi"}, {Role: "assistant", Content: "hello"}}}
	must(t, s.SaveConversation(ctx, c))
	c2 := c
	c2.ID, c2.UpdatedAt, c2.Title = "ctx_2", t0.Add(time.Hour), "second"
	must(t, s.SaveConversation(ctx, c2))
	got, err := s.Conversation(ctx, a, "u1", "ctx_1")
	must(t, err)
	if len(got.Messages) != 2 || got.Messages[1].Content != "hello" || got.Agent != "product" || !got.CreatedAt.Equal(t0) {
		t.Fatalf("got %+v", got)
	}
	// Another tenant, or another user of the tenant, does not see it.
	for _, k := range [][2]string{{b, "u1"}, {a, "u2"}, {a, ""}} {
		_, err = s.Conversation(ctx, k[0], k[1], "ctx_1")
		wantErr(t, err, agents.ErrNotFound)
		wantErr(t, s.DeleteConversation(ctx, k[0], k[1], "ctx_1"), agents.ErrNotFound)
	}
	list, err := s.Conversations(ctx, a, "u1")
	must(t, err)
	if len(list) != 2 || list[0].ID != "ctx_2" || list[1].ID != "ctx_1" || len(list[0].Messages) != 0 {
		t.Fatalf("list %+v", list)
	}
	if l, _ := s.Conversations(ctx, b, "u1"); len(l) != 0 {
		t.Fatalf("tenant b sees %d", len(l))
	}
	c.Messages = append(c.Messages, agents.Message{Role: "user", Content: "more"})
	c.Title = "renamed"
	must(t, s.SaveConversation(ctx, c))
	got, _ = s.Conversation(ctx, a, "u1", "ctx_1")
	if len(got.Messages) != 3 || got.Title != "renamed" {
		t.Fatalf("replace %+v", got)
	}
	must(t, s.DeleteConversation(ctx, a, "u1", "ctx_1"))
	_, err = s.Conversation(ctx, a, "u1", "ctx_1")
	wantErr(t, err, agents.ErrNotFound)
	// A store that saves a turn at once saves both its parts.
	if ts, ok := s.(agents.TurnSaver); ok {
		c.ID = "ctx_turn"
		must(t, ts.SaveTurn(ctx, c, run(a, "turn-agent", 1, true)))
		if _, err := s.Conversation(ctx, a, "u1", "ctx_turn"); err != nil {
			t.Fatal(err)
		}
		if st, _ := s.RunStats(ctx, a, "turn-agent"); st.TotalRuns != 1 {
			t.Fatalf("turn's run %+v", st)
		}
	}
}

func compact(b []byte) string {
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return string(b)
	}
	return out.String()
}
