package agents_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/aria-node/aria/agents"
	"github.com/aria-node/aria/providers"
	"github.com/aria-node/aria/providers/upstreamtest"
	"github.com/aria-node/aria/storage/bolt"
)

func turnService(t *testing.T) (*agents.Service, *bolt.AgentsStore) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	up := upstreamtest.Start(t)
	up.SetDefault(upstreamtest.Reply{Content: "answer"})
	reg := providers.NewRegistry()
	c, err := providers.NewClient("up", up.BaseURL(), "", providers.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.AddProvider(c, false); err != nil {
		t.Fatal(err)
	}
	if err := reg.AddModel(providers.Model{Name: "up-model", Provider: "up", Tier: "balanced", ContextLength: 8192}); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "aria.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := bolt.NewAgentsStore(db)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := agents.New(agents.Options{Store: st, Model: agents.RegistryModel{Registry: reg}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return svc, st
}

// Two turns on one conversation that overlap (both began from the same stored history)
// keep both exchanges: the second save must not overwrite the first.
func TestOverlappingTurnsKeepBothExchanges(t *testing.T) {
	svc, st := turnService(t)
	ctx := context.Background()
	req := agents.ChatRequest{TenantID: "t1", UserID: "u1", AgentType: "product", Model: "up-model"}
	first := req
	first.Message = "first"
	turn, err := svc.PrepareChat(ctx, first, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := turn.Run(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := req, req
	a.Message, a.ContextID = "from A", res.ContextID
	b.Message, b.ContextID = "from B", res.ContextID
	ta, err := svc.PrepareChat(ctx, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := svc.PrepareChat(ctx, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ta.Run(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Run(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	c, err := st.Conversation(ctx, "t1", "u1", res.ContextID)
	if err != nil {
		t.Fatal(err)
	}
	var users []string
	for _, m := range c.Messages {
		if m.Role == "user" {
			users = append(users, m.Content)
		}
	}
	if len(users) != 3 || users[0] != "first" || users[1] != "from A" || users[2] != "from B" {
		t.Fatalf("user messages %q, want [first, from A, from B]", users)
	}
	if len(c.Messages) != 6 {
		t.Fatalf("%d messages stored, want 6", len(c.Messages))
	}
}

// A conversation deleted while a turn runs stays deleted.
func TestTurnDoesNotResurrectADeletedConversation(t *testing.T) {
	svc, st := turnService(t)
	ctx := context.Background()
	req := agents.ChatRequest{TenantID: "t1", UserID: "u1", AgentType: "product", Model: "up-model", Message: "hello"}
	turn, err := svc.PrepareChat(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := turn.Run(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.ContextID, req.Message = res.ContextID, "again"
	next, err := svc.PrepareChat(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteConversation(ctx, "t1", "u1", res.ContextID); err != nil {
		t.Fatal(err)
	}
	if _, err := next.Run(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Conversation(ctx, "t1", "u1", res.ContextID); err == nil {
		t.Fatal("the deleted conversation came back")
	}
}
