package node

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aria-node/aria/agents"
	"github.com/aria-node/aria/providers"
	"github.com/aria-node/aria/providers/upstreamtest"
)

// scriptedPlatform starts the platform layer (open mode, loopback) with agents calling
// a scripted OpenAI-compatible upstream for every tier.
func scriptedPlatform(t *testing.T, replies ...upstreamtest.Reply) (*httptest.Server, *upstreamtest.Server) {
	t.Helper()
	up := upstreamtest.Start(t, replies...)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := providers.NewRegistry()
	c, err := providers.NewClient("up", up.BaseURL(), "", providers.WithTimeout(20*time.Second), providers.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.AddProvider(c, false); err != nil {
		t.Fatal(err)
	}
	for _, tier := range providers.Tiers {
		if err := reg.AddModel(providers.Model{Name: "up-" + tier, Provider: "up", ModelID: tier + "-1", Tier: tier, ContextLength: 4096}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := StartPlatform(t.Context(), PlatformConfig{AgentModel: agents.RegistryModel{Registry: reg}}, t.TempDir(), "127.0.0.1", nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	srv := httptest.NewServer(p.Access(http.NotFoundHandler()))
	t.Cleanup(srv.Close)
	return srv, up
}

// A /v1/chat turn with collections retrieves first: the passages go into the prompt
// the model receives, and the answer carries them as sources.
func TestGroundedChatWithSources(t *testing.T) {
	srv, up := scriptedPlatform(t)
	for _, d := range []string{
		"Harbour rules: the harbour closes at dusk and opens at dawn.",
		"The lighthouse keeper logs the ships every night.",
		"Fishing permits are sold at the town hall.",
	} {
		body, _ := json.Marshal(map[string]any{"collection": "harbour", "content": d, "metadata": map[string]any{"source": "rules"}})
		if status, b, _ := postJSON(t, srv.URL+"/api/rag/ingest", string(body)); status != 201 {
			t.Fatalf("ingest %d %s", status, b)
		}
	}
	status, b, _ := postJSON(t, srv.URL+"/v1/chat", `{"message":"When does the harbour close?","collections":["harbour"]}`)
	if status != 200 {
		t.Fatalf("chat %d %s", status, b)
	}
	var res struct {
		Response string `json:"response"`
		Sources  []struct {
			Collection string         `json:"collection"`
			DocumentID string         `json:"document_id"`
			Score      float64        `json:"score"`
			Content    string         `json:"content"`
			Metadata   map[string]any `json:"metadata"`
		} `json:"sources"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Response == "" || len(res.Sources) == 0 {
		t.Fatalf("answer %s", b)
	}
	top := res.Sources[0]
	if top.Collection != "harbour" || !strings.HasPrefix(top.DocumentID, "src_") || top.Score <= 0 ||
		!strings.Contains(top.Content, "closes at dusk") || top.Metadata["source"] != "rules" {
		t.Fatalf("top source %+v", top)
	}
	reqs := up.Requests()
	if len(reqs) == 0 {
		t.Fatal("the upstream got no request")
	}
	var prompt strings.Builder
	for _, m := range reqs[len(reqs)-1].Chat.Messages {
		prompt.WriteString(m.Content + "\n")
	}
	if !strings.Contains(prompt.String(), "the harbour closes at dusk and opens at dawn") {
		t.Fatalf("the passage is not in the prompt:\n%s", prompt.String())
	}
	// A collection the tenant does not have grounds nothing (and is no error).
	status, b, _ = postJSON(t, srv.URL+"/v1/chat", `{"message":"When does the harbour close?","collections":["nope"]}`)
	if status != 200 || !strings.Contains(string(b), `"sources":[]`) {
		t.Fatalf("chat with a missing collection %d %s", status, b)
	}
}
