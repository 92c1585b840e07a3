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
	"github.com/aria-node/aria/openai"
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

// The same turn answered by the real kernel: a node serving the tiny model (1 thread)
// is the agents' only provider, over its real OpenAI endpoint on loopback; the answer
// is the kernel's text (synthetic weights: meaningless) and carries the sources.
func TestGroundedChatOnTheKernel(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	model := n.Models()[0]
	kernel := httptest.NewServer(openai.NewServer(n.apiConfig()).Handler())
	defer kernel.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := providers.NewRegistry()
	c, err := providers.NewClient("local", kernel.URL+"/v1", "", providers.WithTimeout(60*time.Second), providers.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.AddProvider(c, false); err != nil {
		t.Fatal(err)
	}
	for _, tier := range providers.Tiers {
		if err := reg.AddModel(providers.Model{Name: "kernel-" + tier, Provider: "local", ModelID: model.ID, Tier: tier, ContextLength: model.SlotContext}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := StartPlatform(t.Context(), PlatformConfig{AgentModel: agents.RegistryModel{Registry: reg}}, t.TempDir(), "127.0.0.1", nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	srv := httptest.NewServer(p.Access(http.NotFoundHandler()))
	defer srv.Close()
	if status, b, _ := postJSON(t, srv.URL+"/api/rag/ingest", `{"collection":"manual","content":"To reset the router hold the reset button for ten seconds.\n\nThe warranty lasts two years.","chunking_strategy":"paragraph","chunk_size":8,"chunk_overlap":0}`); status != 201 {
		t.Fatalf("ingest %d %s", status, b)
	}
	status, b, _ := postJSON(t, srv.URL+"/v1/chat", `{"message":"How do I reset the router?","collections":["manual"],"max_tokens":8}`)
	if status != 200 {
		t.Fatalf("chat %d %s", status, b)
	}
	var res struct {
		Response string `json:"response"`
		Model    string `json:"model"`
		Usage    struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
		Sources []struct {
			Collection string  `json:"collection"`
			DocumentID string  `json:"document_id"`
			Score      float64 `json:"score"`
			Content    string  `json:"content"`
		} `json:"sources"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Sources) == 0 || res.Sources[0].Collection != "manual" || !strings.Contains(res.Sources[0].Content, "reset button") ||
		res.Sources[0].Score <= 0 || !strings.HasPrefix(res.Sources[0].DocumentID, "src_") {
		t.Fatalf("sources %s", b)
	}
	if res.Usage.CompletionTokens == 0 || res.Usage.PromptTokens == 0 {
		t.Fatalf("the kernel did not answer: %s", b)
	}
	// The passages were in the kernel's prompt: the same question without collections
	// costs fewer prompt tokens.
	status, b, _ = postJSON(t, srv.URL+"/v1/chat", `{"message":"How do I reset the router?","max_tokens":8}`)
	var plain struct {
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
		} `json:"usage"`
	}
	if status != 200 || json.Unmarshal(b, &plain) != nil || plain.Usage.PromptTokens >= res.Usage.PromptTokens {
		t.Fatalf("without collections: %d %s (with: %d prompt tokens)", status, b, res.Usage.PromptTokens)
	}
}
