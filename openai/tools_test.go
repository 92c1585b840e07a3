package openai

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aria-node/aria/inference"
)

const weatherTool = `"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather now","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}}}]`

// A reply in the Hermes format becomes message.tool_calls with finish reason
// tool_calls; the engine got the tool-call format and the tools in the system turn.
func TestToolCallsPlain(t *testing.T) {
	fb := newFakeBackend()
	fb.tokens = []string{"<tool_call>", "\n{\"name\": \"get_weather\", ", "\"arguments\": {\"city\": \"Oslo\"}}\n", "</tool_call>"}
	e := newEnv(t, fb)
	r := e.chat(chatBody(weatherTool + `,"tool_choice":"required","parallel_tool_calls":false`))
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var c ChatCompletion
	if err := json.Unmarshal(r.body, &c); err != nil {
		t.Fatal(err)
	}
	ch := c.Choices[0]
	if ch.FinishReason != "tool_calls" || ch.Message.Content != nil || len(ch.Message.ToolCalls) != 1 {
		t.Fatalf("choice %s", r.body)
	}
	call := ch.Message.ToolCalls[0]
	if call.Type != "function" || call.Function.Name != "get_weather" || call.Function.Arguments != `{"city": "Oslo"}` || !strings.HasPrefix(call.ID, "call_") {
		t.Fatalf("call %+v", call)
	}
	req := fb.requests()[0]
	if req.Format == nil || req.Format.Type != inference.FormatToolCalls || !req.Format.Required || req.Format.Parallel || len(req.Format.Tools) != 1 {
		t.Fatalf("format %+v", req.Format)
	}
	if req.Messages[0].Role != "system" || !strings.Contains(req.Messages[0].Content, `"name":"get_weather"`) || !strings.Contains(req.Messages[0].Content, "<tool_call>") {
		t.Fatalf("system turn %q", req.Messages[0].Content)
	}
}

// tool_choice auto: a text answer stays text with finish reason stop.
func TestToolChoiceAutoText(t *testing.T) {
	fb := newFakeBackend()
	e := newEnv(t, fb)
	r := e.chat(chatBody(weatherTool))
	var c ChatCompletion
	json.Unmarshal(r.body, &c)
	if c.Choices[0].FinishReason != "stop" || c.Choices[0].Message.Content == nil || *c.Choices[0].Message.Content != "Once upon a time" {
		t.Fatalf("%s", r.body)
	}
	if f := fb.requests()[0].Format; f == nil || f.Required || !f.Lazy() {
		t.Fatalf("auto format %+v", f)
	}
	// tool_choice none: no constraint, no tools prompt.
	fb2 := newFakeBackend()
	newEnv(t, fb2).chat(chatBody(weatherTool + `,"tool_choice":"none"`))
	if req := fb2.requests()[0]; req.Format != nil || req.Messages[0].Role == "system" {
		t.Fatalf("none: %+v", req)
	}
}

// Streamed: index, id and name once, then the arguments in pieces that join to the
// whole; the last chunk's finish reason is tool_calls.
func TestToolCallsStreamed(t *testing.T) {
	fb := newFakeBackend()
	fb.tokens = []string{"<tool", "_call>\n{\"name\":", " \"get_weather\", \"arguments\": {\"ci", "ty\": \"O", "slo\"}}", "\n</tool_call>", "\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call>"}
	e := newEnv(t, fb)
	r := e.chat(chatBody(weatherTool + `,"stream":true`))
	evs := parseSSE(t, r.body)
	args := map[int]string{}
	ids := map[int]string{}
	finish := ""
	for _, ev := range evs {
		if ev.json == nil {
			continue
		}
		var c ChatCompletionChunk
		json.Unmarshal([]byte(ev.raw), &c)
		for _, ch := range c.Choices {
			if ch.Delta.Content != "" {
				t.Fatalf("content in a tool-call stream: %q", ch.Delta.Content)
			}
			for _, d := range ch.Delta.ToolCalls {
				if d.ID != "" {
					if ids[d.Index] != "" || d.Function == nil || d.Function.Name != "get_weather" {
						t.Fatalf("second head or no name: %s", ev.raw)
					}
					ids[d.Index] = d.ID
				}
				if d.Function != nil {
					args[d.Index] += d.Function.Arguments
				}
			}
			if ch.FinishReason != nil {
				finish = *ch.FinishReason
			}
		}
	}
	if finish != "tool_calls" || len(ids) != 2 || args[0] != `{"city": "Oslo"}` || args[1] != `{"city": "Rome"}` {
		t.Fatalf("finish %q ids %v args %v", finish, ids, args)
	}
}

// Tool results go back into the prompt in the Hermes format.
func TestToolMessagesRendered(t *testing.T) {
	fb := newFakeBackend()
	e := newEnv(t, fb)
	body := `{"model":"aria-2b-1bit",` + weatherTool + `,"messages":[{"role":"user","content":"Weather?"},` +
		`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]},` +
		`{"role":"tool","tool_call_id":"call_1","content":"12C"}]}`
	if r := e.chat(body); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	msgs := fb.requests()[0].Messages
	if len(msgs) != 4 || msgs[2].Role != "assistant" || msgs[3].Role != "user" {
		t.Fatalf("messages %+v", msgs)
	}
	if msgs[2].Content != "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Oslo\"}}\n</tool_call>" {
		t.Fatalf("assistant turn %q", msgs[2].Content)
	}
	if msgs[3].Content != "<tool_response>\n12C\n</tool_response>" {
		t.Fatalf("tool turn %q", msgs[3].Content)
	}
}

func TestResponseFormatReachesEngine(t *testing.T) {
	fb := newFakeBackend()
	e := newEnv(t, fb)
	e.chat(chatBody(`"response_format":{"type":"json_schema","json_schema":{"name":"p","strict":false,"schema":{"type":"object","properties":{"a":{"type":"integer"}}}}}`))
	e.chat(chatBody(`"response_format":{"type":"json_object"}`))
	e.chat(chatBody(`"response_format":{"type":"text"}`))
	reqs := fb.requests()
	if reqs[0].Format == nil || reqs[0].Format.Type != inference.FormatJSONSchema || reqs[1].Format.Type != inference.FormatJSONObject || reqs[2].Format != nil {
		t.Fatalf("formats %+v %+v %+v", reqs[0].Format, reqs[1].Format, reqs[2].Format)
	}
}

func TestToolStreamUndecidedText(t *testing.T) {
	s := newToolStream(false)
	var out strings.Builder
	for _, p := range []string{"<", "to", "ol is not a call"} {
		c, d := s.push(p)
		if d != nil {
			t.Fatal("call deltas for text")
		}
		out.WriteString(c)
	}
	out.WriteString(s.flush())
	if out.String() != "<tool is not a call" || s.isCalls() {
		t.Fatalf("%q", out.String())
	}
	s = newToolStream(false)
	c, _ := s.push("<tool")
	if c != "" || s.flush() != "<tool" {
		t.Fatal("a held prefix is not flushed at the end")
	}
}
