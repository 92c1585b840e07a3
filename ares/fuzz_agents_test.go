package ares

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/aria-node/aria/agents"
	"github.com/aria-node/aria/storage/bolt"
	"github.com/aria-node/aria/tenancy"
)

// echoModel answers every turn with its last message (fuzzing stays in process).
type echoModel struct{}

func (echoModel) Chat(_ context.Context, req agents.ModelRequest) (agents.ModelResponse, error) {
	last := req.Messages[len(req.Messages)-1].Content
	return agents.ModelResponse{Model: "echo", Message: agents.Message{Role: "assistant", Content: truncateString(last, 64)}, FinishReason: "stop", PromptTokens: 1, CompletionTokens: 1}, nil
}

func (m echoModel) ChatStream(ctx context.Context, req agents.ModelRequest, fn func(string) error) (agents.ModelResponse, error) {
	r, _ := m.Chat(ctx, req)
	return r, fn(r.Message.Content)
}

func (echoModel) ContextLength(string) int { return 0 }

func truncateString(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// FuzzAgentBodies sends arbitrary bodies to every agents endpoint that decodes one:
// the answer is a documented status with a JSON error, never a panic or a 5xx.
func FuzzAgentBodies(f *testing.F) {
	db, err := bbolt.Open(filepath.Join(f.TempDir(), "aria.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	st, _ := bolt.NewTenancyStore(db)
	as, _ := bolt.NewAgentsStore(db)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := tenancy.NewService(st, tenancy.Options{Logger: log, JWTSecret: jwtSecret, BcryptCost: 4})
	ag, err := agents.New(agents.Options{Store: as, Model: echoModel{}, Logger: log})
	if err != nil {
		f.Fatal(err)
	}
	ctx := f.Context()
	tn, _ := svc.CreateTenant(ctx, "fuzz", "fuzz", "enterprise")
	_, key, _ := svc.CreateKey(ctx, "fuzz", tn.ID, "k", 0)
	h := New(Config{Service: svc, Required: true, AdminSecret: adminSecret, Logger: log, Agents: ag}).Wrap(http.NotFoundHandler())
	paths := []string{"POST /v1/chat", "POST /api/chat", "POST /v1/agents/product/run", "POST /api/user/agents", "PUT /api/user/agents/x",
		"POST /api/user/agents/import", "POST /api/workflows/default", "POST /api/research", "PUT /api/conversations/ctx_x",
		"POST /api/admin/tenants/" + tn.ID + "/agents"}
	for _, s := range []string{`{"message":"hi","agent_type":"product"}`, `{"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`,
		`{"name":"x","system_prompt":"p","tools":["calculator"]}`, "[[agents]]\nname = \"y\"\nsystem_prompt = '''p'''\n",
		`{"query":"q","depth":2,"max_iterations":3}`, `{"input":{"message":"m","context":{"a":1}}}`, `{"title":"t"}`, `[`, `null`, "\x00"} {
		for i := range paths {
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		mp := strings.SplitN(paths[int(which)%len(paths)], " ", 2)
		r := httptest.NewRequest(mp[0], mp[1], strings.NewReader(body))
		r.Header.Set("X-Admin-Secret", adminSecret)
		r.Header.Set("Authorization", "Bearer "+key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("%s %q: %d %s", mp, body, w.Code, w.Body)
		}
	})
}
