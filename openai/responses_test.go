package openai

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aria-node/aria/inference"
)

// parseNamedSSE reads "event: X\ndata: Y\n\n" events, checking the name matches data.type.
func parseNamedSSE(t *testing.T, body []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, block := range strings.Split(strings.TrimSpace(string(body)), "\n\n") {
		lines := strings.Split(block, "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "event: ") || !strings.HasPrefix(lines[1], "data: ") {
			t.Fatalf("bad event %q", block)
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(lines[1][len("data: "):]), &ev); err != nil {
			t.Fatal(err)
		}
		if ev["type"] != lines[0][len("event: "):] {
			t.Fatalf("event name %q, type %v", lines[0], ev["type"])
		}
		out = append(out, ev)
	}
	return out
}

func TestResponsesText(t *testing.T) {
	fb := newFakeBackend()
	e := newEnv(t, fb)
	r := e.do(http.MethodPost, "/v1/responses", `{"model":"aria-2b-1bit","instructions":"Be brief","input":"Tell me a story","max_output_tokens":50,"store":true}`)
	var resp Response
	if err := json.Unmarshal(r.body, &resp); err != nil || r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if resp.Object != "response" || resp.Status != "completed" || len(resp.Output) != 1 || resp.Output[0].Content[0].Text != "Once upon a time" ||
		resp.Usage.InputTokens != 25 || resp.Usage.OutputTokens != 4 || resp.Store {
		t.Fatalf("%s", r.body)
	}
	req := fb.requests()[0]
	if req.Messages[0] != (inference.Message{Role: "system", Content: "Be brief"}) || req.MaxTokens != 50 {
		t.Fatalf("engine request %+v", req)
	}
	// Cut by max_output_tokens: incomplete.
	fb.finish = inference.FinishLength
	r = e.do(http.MethodPost, "/v1/responses", `{"model":"aria-2b-1bit","input":[{"role":"user","content":[{"type":"input_text","text":"hi"}]}]}`)
	json.Unmarshal(r.body, &resp)
	if resp.Status != "incomplete" || resp.IncompleteDetails == nil || resp.IncompleteDetails.Reason != "max_output_tokens" {
		t.Fatalf("%s", r.body)
	}
}

func TestResponsesFunctionCallStream(t *testing.T) {
	fb := newFakeBackend()
	fb.tokens = []string{"<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"ci", "ty\": \"Oslo\"}}\n</tool_call>"}
	e := newEnv(t, fb)
	r := e.do(http.MethodPost, "/v1/responses", `{"model":"aria-2b-1bit","input":"weather?","stream":true,"tool_choice":"required",`+
		`"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]}`)
	evs := parseNamedSSE(t, r.body)
	var types []string
	args := ""
	for i, ev := range evs {
		types = append(types, ev["type"].(string))
		if ev["sequence_number"] != float64(i) {
			t.Fatalf("sequence_number %v at %d", ev["sequence_number"], i)
		}
		if ev["type"] == "response.function_call_arguments.delta" {
			args += ev["delta"].(string)
		}
	}
	want := "response.created response.in_progress response.output_item.added response.function_call_arguments.delta response.function_call_arguments.delta response.function_call_arguments.done response.output_item.done response.completed"
	if strings.Join(types, " ") != want {
		t.Fatalf("events:\n%s\nwant\n%s", strings.Join(types, " "), want)
	}
	final := evs[len(evs)-1]["response"].(map[string]any)
	out := final["output"].([]any)[0].(map[string]any)
	if args != `{"city": "Oslo"}` || out["type"] != "function_call" || out["arguments"] != args || out["name"] != "get_weather" || final["usage"] == nil {
		t.Fatalf("args %q final %v", args, final)
	}
}

func TestResponsesTextStreamAndToolResults(t *testing.T) {
	fb := newFakeBackend()
	e := newEnv(t, fb)
	body := `{"model":"aria-2b-1bit","stream":true,"text":{"format":{"type":"json_schema","name":"x","schema":{"type":"object"}}},"input":[` +
		`{"role":"user","content":"weather?"},{"type":"function_call","call_id":"call_1","name":"w","arguments":"{}"},` +
		`{"type":"function_call_output","call_id":"call_1","output":"sunny"}],"tools":[{"type":"function","name":"w"}]}`
	r := e.do(http.MethodPost, "/v1/responses", body)
	evs := parseNamedSSE(t, r.body)
	text := ""
	for _, ev := range evs {
		if ev["type"] == "response.output_text.delta" {
			text += ev["delta"].(string)
		}
	}
	if text != "Once upon a time" || evs[len(evs)-1]["type"] != "response.completed" {
		t.Fatalf("%s", r.body)
	}
	req := fb.requests()[0]
	if req.Format == nil || req.Format.Type != inference.FormatJSONSchema {
		t.Fatalf("format %+v", req.Format)
	}
	last := req.Messages[len(req.Messages)-1]
	if last.Content != "<tool_response>\nsunny\n</tool_response>" {
		t.Fatalf("messages %+v", req.Messages)
	}
}

func TestResponsesBadInput(t *testing.T) {
	e := newEnv(t, nil)
	for _, c := range []struct{ body, field string }{
		{`{"model":"aria-2b-1bit"}`, "input"},
		{`{"model":"aria-2b-1bit","input":"x","previous_response_id":"resp_1"}`, "previous_response_id"},
		{`{"model":"aria-2b-1bit","input":"x","tools":[{"type":"web_search"}]}`, "tools[0].type"},
		{`{"model":"aria-2b-1bit","input":"x","text":{"format":{"type":"json_schema","name":"x","schema":{"type":"object","properties":{"a":{"not":{}}}}}}}`, "text.format.schema"},
		{`{"model":"aria-2b-1bit","input":"x","max_output_tokens":0}`, "max_output_tokens"},
		{`{"model":"aria-2b-1bit","input":[{"type":"function_call_output","call_id":"nope","output":"x"}]}`, "input[0].tool_call_id"},
		{`{"model":"aria-2b-1bit","input":"x","tool_choice":{"type":"function","name":"g"},"tools":[{"type":"function","name":"f"}]}`, "tool_choice.name"},
	} {
		r := e.do(http.MethodPost, "/v1/responses", c.body)
		if r.status != 400 || !strings.Contains(string(r.body), "'"+c.field+"'") {
			t.Errorf("%s: %d %s", c.body, r.status, r.body)
		}
	}
}
