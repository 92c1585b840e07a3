package providers_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aria-node/aria/consent"
	"github.com/aria-node/aria/providers"
)

// The ARES docs' examples, as written there (plus aria's consent fields).
const aresTOML = `
cpu_percent = 50

[server]
port = 3000

[[providers]]
name = "groq"
type = "openai"
base_url = "https://api.groq.com/openai/v1"
api_key_env = "GROQ_API_KEY"
[[providers.models]]
id = "llama-3.3-70b-versatile"
name = "llama-3.3-70b"
context_length = 131072
[[providers.models]]
id = "llama-3.1-8b-instant"
name = "llama-3.1-8b"
context_length = 131072
tier = "fast"

[[providers]]
name = "my-openai"
kind = "openai"
api_base = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"

[[providers]]
name = "ollama"
type = "ollama"
base_url = "http://localhost:11434"

[[models]]
name = "gpt-4o"
provider = "my-openai"
model_id = "gpt-4o"
tier = "powerful"

[[models]]
name = "kernel"
provider = "local"
model_id = "aria-tiny-1bit"
tier = "local"
`

const aresJSON = `{
  "cpu_percent": 50,
  "providers": [
    {"name": "groq", "type": "openai", "base_url": "https://api.groq.com/openai/v1", "api_key_env": "GROQ_API_KEY",
     "models": [{"id": "llama-3.3-70b-versatile", "name": "llama-3.3-70b", "context_length": 131072},
                {"id": "llama-3.1-8b-instant", "name": "llama-3.1-8b", "context_length": 131072, "tier": "fast"}]},
    {"name": "my-openai", "kind": "openai", "api_base": "https://api.openai.com/v1", "api_key_env": "OPENAI_API_KEY"},
    {"name": "ollama", "type": "ollama", "base_url": "http://localhost:11434"}
  ],
  "models": [
    {"name": "gpt-4o", "provider": "my-openai", "model_id": "gpt-4o", "tier": "powerful"},
    {"name": "kernel", "provider": "local", "model_id": "aria-tiny-1bit", "tier": "local"}
  ]
}`

func readConfig(t *testing.T, name, body string) consent.ConfigFile {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := consent.ReadConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestParseConfigTOMLAndJSON(t *testing.T) {
	env := map[string]string{"GROQ_API_KEY": "gsk_x", "OPENAI_API_KEY": "sk-x"}
	for _, f := range []consent.ConfigFile{readConfig(t, "ares.toml", aresTOML), readConfig(t, "aria.json", aresJSON), readConfig(t, "noext", aresTOML)} {
		c, err := providers.ParseConfig(f.Source, f.JSON)
		if err != nil {
			t.Fatalf("%s: %v", f.Source, err)
		}
		ct, err := consent.ParseConfig(f)
		if err != nil || ct.CPUPercent != 50 {
			t.Fatalf("%s: consent part: %+v %v", f.Source, ct, err)
		}
		reg := providers.NewRegistry()
		for _, b := range []string{providers.Local, providers.Network} {
			cl, _ := providers.NewClient(b, "http://in-process/v1", "")
			reg.AddProvider(cl, true)
		}
		var logs bytes.Buffer
		if err := c.Apply(reg, func(k string) string { return env[k] }, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
			t.Fatalf("%s: apply: %v", f.Source, err)
		}
		if strings.Contains(logs.String(), "gsk_x") || strings.Contains(logs.String(), "sk-x") || !strings.Contains(logs.String(), "GROQ_API_KEY") {
			t.Fatalf("%s: logs name the variable, never the key: %s", f.Source, logs.String())
		}
		var names []string
		for _, m := range reg.Models() {
			names = append(names, m.Name+"="+m.Provider+"/"+m.ModelID+":"+m.Tier)
		}
		want := "llama-3.3-70b=groq/llama-3.3-70b-versatile:,llama-3.1-8b=groq/llama-3.1-8b-instant:fast,gpt-4o=my-openai/gpt-4o:powerful,kernel=local/aria-tiny-1bit:local"
		if strings.Join(names, ",") != want {
			t.Fatalf("%s: models %v", f.Source, names)
		}
		if reg.ContextLength("llama-3.3-70b") != 131072 {
			t.Fatalf("context length %d", reg.ContextLength("llama-3.3-70b"))
		}
		p, _ := reg.Provider("ollama")
		if p.(*providers.Client).BaseURL() != "http://localhost:11434/v1" {
			t.Fatalf("ollama base %s", p.(*providers.Client).BaseURL())
		}
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"unknown provider", `{"models":[{"name":"m","provider":"nope","model_id":"x"}]}`, "models[0] 'm': unknown provider 'nope'"},
		{"duplicate provider", `{"providers":[{"name":"a","api_base":"http://h/v1"},{"name":"a","api_base":"http://h/v1"}]}`, "duplicate provider name"},
		{"duplicate model", `{"providers":[{"name":"a","api_base":"http://h/v1","models":[{"id":"x"}]}],"models":[{"name":"x","provider":"a"}]}`, "duplicate model name 'x'"},
		{"bad url", `{"providers":[{"name":"a","api_base":"ftp://h"}]}`, `api_base "ftp://h" is not an http(s) URL`},
		{"no url", `{"providers":[{"name":"a"}]}`, "no api_base"},
		{"reserved name", `{"providers":[{"name":"local","api_base":"http://h/v1"}]}`, "built-in provider's"},
		{"unsupported kind", `{"providers":[{"name":"a","type":"anthropic","api_base":"http://h/v1"}]}`, "kind 'anthropic' is not supported"},
		{"bad tier", `{"models":[{"name":"m","provider":"local","tier":"turbo"}]}`, "unknown tier 'turbo'"},
		{"tier as name", `{"models":[{"name":"fast","provider":"local"}]}`, "name 'fast' is a tier's"},
		{"unknown field", `{"providers":[{"name":"a","api_base":"http://h/v1","apikey":"sk"}]}`, `unknown field "apikey"`},
		{"bad env name", `{"providers":[{"name":"a","api_base":"http://h/v1","api_key_env":"sk-123"}]}`, "not an environment variable name"},
		{"wrong type", `{"models":{"name":"m"}}`, "models:"},
		{"model without id", `{"providers":[{"name":"a","api_base":"http://h/v1","models":[{"name":"x"}]}]}`, "no id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := providers.ParseConfig("config file x.json", []byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "config file x.json") {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	// The key comes only from the environment, and a named variable must be set.
	c, err := providers.ParseConfig("x", []byte(`{"providers":[{"name":"a","api_base":"http://h/v1","api_key_env":"A_KEY"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(providers.NewRegistry(), func(string) string { return "" }, nil); err == nil || !strings.Contains(err.Error(), "api_key_env A_KEY is not set") {
		t.Fatalf("unset key: %v", err)
	}
}
