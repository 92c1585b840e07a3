package ares

import (
	"context"
	"net/http"
	"testing"

	"github.com/aria-node/aria/agents"
	"github.com/aria-node/aria/storage/bolt"
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
	p := newFuzzPlatform(f)
	as, err := bolt.NewAgentsStore(p.db)
	if err != nil {
		f.Fatal(err)
	}
	ag, err := agents.New(agents.Options{Store: as, Model: echoModel{}, Logger: p.log})
	if err != nil {
		f.Fatal(err)
	}
	id, key := p.tenantKey(f, "enterprise")
	h := New(Config{Service: p.svc, Required: true, AdminSecret: adminSecret, Logger: p.log, Agents: ag}).Wrap(http.NotFoundHandler())
	routes := []string{"POST /v1/chat", "POST /api/chat", "POST /v1/agents/product/run", "POST /api/user/agents", "PUT /api/user/agents/x",
		"POST /api/user/agents/import", "POST /api/workflows/default", "POST /api/research", "PUT /api/conversations/ctx_x",
		"POST /api/admin/tenants/" + id + "/agents"}
	fuzzBodies(f, h, keyHeaders(key), routes, []string{`{"message":"hi","agent_type":"product"}`, `{"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`,
		`{"name":"x","system_prompt":"p","tools":["calculator"]}`, "[[agents]]\nname = \"y\"\nsystem_prompt = '''p'''\n",
		`{"query":"q","depth":2,"max_iterations":3}`, `{"input":{"message":"m","context":{"a":1}}}`, `{"title":"t"}`, `[`, `null`, "\x00"})
}
