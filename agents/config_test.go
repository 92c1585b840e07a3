package agents

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aria-node/aria/consent"
)

func TestParseConfigFile(t *testing.T) {
	// The ARES deployment guide's agent sections, in a node config file.
	src := `[[agents]]
name = "financial-analyst"
model = "llama-3.3-70b"
system_prompt = """
You are a senior financial analyst.
"""
tools = ["calculator"]
max_tokens = 4096

[[agents]]
name = "support-agent"
model = "llama-3.3-70b"
[agents.toon]
role = "Customer Support Specialist"
constraints = ["Never make up information about products"]
tools = ["web_search"]

[[workflows]]
name = "triage"
entry = "router"
next = { router = ["support-agent", "financial-analyst"] }
`
	path := filepath.Join(t.TempDir(), "ares.toml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := consent.ReadConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fc, err := ParseConfig(f.Source, f.JSON)
	if err != nil {
		t.Fatal(err)
	}
	if len(fc.Agents) != 2 || fc.Agents[0].Config.MaxTokens != 4096 || fc.Agents[1].Config.Tools[0] != "web_search" || fc.Agents[1].Config.Toon.Role != "Customer Support Specialist" {
		t.Fatalf("agents %+v", fc.Agents)
	}
	if len(fc.Workflows) != 1 || fc.Workflows[0].Next["router"][1] != "financial-analyst" {
		t.Fatalf("workflows %+v", fc.Workflows)
	}
	s, err := New(Options{Agents: fc.Agents, Workflows: fc.Workflows})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range s.StaticAgents() {
		names = append(names, a.Name)
	}
	if !strings.Contains(strings.Join(names, ","), "financial-analyst") || !strings.Contains(strings.Join(s.Workflows(), ","), "triage") {
		t.Fatalf("static %v, workflows %v", names, s.Workflows())
	}
	// Bad sections are clear errors.
	for _, bad := range []string{`{"agents": [{"name": "x", "modle": "y"}]}`, `{"workflows": [{"name": "w", "entry": 3}]}`, `{"agents": {}}`} {
		if _, err := ParseConfig("c.json", []byte(bad)); err == nil || !strings.HasPrefix(err.Error(), "agents: c.json: [[") {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if _, err := New(Options{Workflows: []Workflow{{Name: "w", Entry: "a", Next: map[string][]string{"a": {"a"}}}}}); err == nil {
		t.Fatal("a self-loop workflow was accepted")
	}
}
