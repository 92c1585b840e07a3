package agents

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The guide's TOON example, as written there.
const docToon = `[[agents]]
name = "support-agent"
model = "llama-3.3-70b"
[agents.toon]
role = "Customer Support Specialist"
personality = "Professional, empathetic, solution-oriented"
knowledge = ["product documentation", "pricing plans", "common issues"]
constraints = [
"Never make up information about products",
"Escalate billing disputes to human agents",
"Always confirm the customer's issue before proposing a solution",
]
tools = ["web_search"]
`

func TestDecodeDocumentedToon(t *testing.T) {
	as, err := DecodeTOON([]byte(docToon))
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 {
		t.Fatalf("%d agents", len(as))
	}
	a := as[0]
	if a.Name != "support-agent" || a.Config.Model != "llama-3.3-70b" || !reflect.DeepEqual(a.Config.Tools, []string{"web_search"}) {
		t.Fatalf("agent %+v", a)
	}
	tn := a.Config.Toon
	if tn == nil || tn.Role != "Customer Support Specialist" || len(tn.Knowledge) != 3 || len(tn.Constraints) != 3 ||
		tn.Constraints[2] != "Always confirm the customer's issue before proposing a solution" {
		t.Fatalf("toon %+v", tn)
	}
	p := tn.Prompt()
	for _, want := range []string{"You are a Customer Support Specialist.", "pricing plans", "- Escalate billing disputes to human agents"} {
		if !strings.Contains(p, want) {
			t.Fatalf("prompt %q lacks %q", p, want)
		}
	}
}

func TestDecodeToonForms(t *testing.T) {
	// One agent as top-level keys, every string form, comments, numbers.
	src := `# a reviewer
name = "code-reviewer" # trailing comment
agent_type = 'reviewer'
model = "deepseek"
max_tokens = 4_096
system_prompt = """
You review code.\tBe "concise".
Line two \
   joined."""
tools = [ "calculator",
  # comment inside an array
  "web_search", ]
collections = ['docs']
`
	as, err := DecodeTOON([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	a := as[0]
	if a.Name != "code-reviewer" || a.AgentType != "reviewer" || a.Config.MaxTokens != 4096 ||
		a.Config.SystemPrompt != "You review code.\tBe \"concise\".\nLine two joined." || len(a.Config.Tools) != 2 || a.Config.Collections[0] != "docs" {
		t.Fatalf("agent %+v", a)
	}
	// The same keys as JSON (the documented curl sends the file as application/json).
	js, err := DecodeTOON([]byte(`{"name":"j","model":"fast","system_prompt":"p","tools":["calculator"],"max_tokens":5}`))
	if err != nil || js[0].Name != "j" || js[0].Config.MaxTokens != 5 {
		t.Fatalf("json %+v %v", js, err)
	}
}

func TestDecodeToonErrors(t *testing.T) {
	for src, want := range map[string]string{
		`name = "x`:                  "line 1: unterminated string",
		"name = \"x\"\nname = \"y\"": "line 2: key \"name\" defined twice",
		`name = x`:                   "strings need quotes",
		`name = 5`:                   "name must be a string",
		`tools = "calculator"`:       "tools must be an array",
		`tools = [1, 2]`:             "tools must be an array of strings",
		"[agents]\nname = \"x\"":     "agents must be an array of tables",
		`x = {a = 1}`:                "inline tables",
		"[[agents]]\n[agents.toon]\n[agents.toon]": "defined twice",
		`name = "a" "b"`:  "one key = value per line",
		`max_tokens = -3`: "max_tokens must be a non-negative integer",
		`{"name": `:       "JSON body",
		"\xff\xfe":        "not UTF-8",
		`name = "\q"`:     "unknown escape",
		"= 3":             "expected a key",
	} {
		_, err := DecodeTOON([]byte(src))
		var te *ToonError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", src, err, want)
		}
	}
	if _, err := DecodeTOON([]byte(strings.Repeat("#", MaxToonBytes+1))); err == nil {
		t.Fatal("oversized document accepted")
	}
}

func TestToonRoundTrip(t *testing.T) {
	as, _ := DecodeTOON([]byte(docToon))
	a := as[0]
	a.AgentType, a.Config.Description, a.Config.MaxTokens = "support", "Helps \"customers\"\nkindly", 512
	back, err := DecodeTOON(EncodeTOON(a))
	if err != nil {
		t.Fatalf("%v\n%s", err, EncodeTOON(a))
	}
	if !reflect.DeepEqual(back[0], a) {
		t.Fatalf("round trip\n got %+v\nwant %+v", back[0], a)
	}
}

func FuzzDecodeTOON(f *testing.F) {
	f.Add([]byte(docToon))
	f.Add([]byte("name = \"x\"\nsystem_prompt = '''\nmulti\n'''\ntools = []\n[toon]\nrole = \"r\"\n"))
	f.Add([]byte(`{"name":"j","tools":["a"]}`))
	f.Fuzz(func(t *testing.T, src []byte) {
		as, err := DecodeTOON(src)
		if err != nil {
			var te *ToonError
			if !errors.As(err, &te) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// Whatever decodes re-encodes to a document that decodes to the same agents.
		for _, a := range as {
			if a.Config.Toon != nil {
				a.Config.SystemPrompt = "" // export writes the structured form only
			}
			back, err := DecodeTOON(EncodeTOON(a))
			if err != nil {
				t.Fatalf("re-encoded agent does not decode: %v\n%s", err, EncodeTOON(a))
			}
			got, _ := json.Marshal(back[0])
			want, _ := json.Marshal(a)
			if string(got) != string(want) {
				t.Fatalf("round trip\n got %s\nwant %s", got, want)
			}
		}
	})
}
