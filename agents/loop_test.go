package agents

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// scripted is a Model answering from a list of responses; it records what it was sent.
// (End-to-end tests drive the loop through a real scripted upstream server; this
// double isolates the loop's own rules.)
type scripted struct {
	mu    sync.Mutex
	resps []ModelResponse
	def   ModelResponse
	reqs  []ModelRequest
}

func (s *scripted) Chat(ctx context.Context, req ModelRequest) (ModelResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, req)
	r := s.def
	if len(s.resps) > 0 {
		r, s.resps = s.resps[0], s.resps[1:]
	}
	return r, nil
}

func (s *scripted) ChatStream(ctx context.Context, req ModelRequest, fn func(string) error) (ModelResponse, error) {
	r, _ := s.Chat(ctx, req)
	for _, w := range strings.SplitAfter(r.Message.Content, " ") {
		if err := fn(w); err != nil {
			return r, err
		}
	}
	return r, nil
}

func (s *scripted) ContextLength(string) int { return 0 }

func call(id, name, args string) ToolCall {
	var c ToolCall
	c.ID, c.Type, c.Function.Name, c.Function.Arguments = id, "function", name, args
	return c
}

func toolTurn(calls ...ToolCall) ModelResponse {
	return ModelResponse{Model: "m", Message: Message{Role: "assistant", ToolCalls: calls}, FinishReason: "tool_calls", PromptTokens: 10, CompletionTokens: 5}
}

func textTurn(s string) ModelResponse {
	return ModelResponse{Model: "m", Message: Message{Role: "assistant", Content: s}, FinishReason: "stop", PromptTokens: 20, CompletionTokens: 7}
}

const mortgage = "(400000 * (0.065/12) * (1 + 0.065/12)^360) / ((1 + 0.065/12)^360 - 1)"

func TestLoopComputesTheMortgageExample(t *testing.T) {
	m := &scripted{resps: []ModelResponse{
		toolTurn(call("c1", "calculator", `{"expression":"`+mortgage+`"}`)),
		textTurn("The monthly payment is $2,528.27."),
	}}
	res, err := RunLoop(context.Background(), m, LoopConfig{}, ModelRequest{Model: "fast", Messages: []Message{{Role: "user", Content: "mortgage?"}}}, DefaultTools(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "The monthly payment is $2,528.27." || res.Iterations != 1 || res.PromptTokens != 30 || res.CompletionTokens != 12 {
		t.Fatalf("result %+v", res)
	}
	second := m.reqs[1]
	tool := second.Messages[len(second.Messages)-1]
	if tool.Role != "tool" || tool.ToolCallID != "c1" || tool.Content != `{"result":2528.272093971855}` {
		t.Fatalf("tool message %+v", tool)
	}
	if len(second.Tools) != 2 || second.Tools[0].Function.Name != "calculator" {
		t.Fatalf("tools offered %+v", second.Tools)
	}
	if len(res.Steps) != 3 || res.Steps[1].Kind != "tool" || res.Steps[1].Tool != "calculator" || res.Steps[2].Kind != "final" {
		t.Fatalf("steps %+v", res.Steps)
	}
}

func TestLoopIterationCapForcesAnAnswer(t *testing.T) {
	m := &scripted{def: toolTurn(call("", "calculator", `{"expression":"1+1"}`))}
	res, err := RunLoop(context.Background(), m, LoopConfig{MaxIterations: 3}, ModelRequest{Messages: []Message{{Role: "user", Content: "loop"}}}, DefaultTools(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.reqs) != 4 || res.Iterations != 3 || !res.Forced {
		t.Fatalf("%d model calls, %d iterations, forced %v", len(m.reqs), res.Iterations, res.Forced)
	}
	last := m.reqs[3]
	if last.Tools != nil || last.ToolChoice != "none" || !strings.Contains(last.Messages[len(last.Messages)-1].Content, "limit of tool calls") {
		t.Fatalf("final call %+v", last)
	}
	// A model that still asks for tools after the cap gets no more tool runs.
	if res.Steps[len(res.Steps)-1].Kind != "final" {
		t.Fatalf("steps %+v", res.Steps)
	}
}

type hangTool struct{ release chan struct{} }

func (hangTool) Spec() ToolSpec {
	return ToolSpec{Type: "function", Function: FunctionSpec{Name: "hang", Parameters: json.RawMessage(`{}`)}}
}
func (h hangTool) Call(ctx context.Context, _ json.RawMessage) (any, error) {
	<-h.release // ignores its context on purpose
	return "late", nil
}

type panicTool struct{}

func (panicTool) Spec() ToolSpec {
	return ToolSpec{Type: "function", Function: FunctionSpec{Name: "boom", Parameters: json.RawMessage(`{}`)}}
}
func (panicTool) Call(context.Context, json.RawMessage) (any, error) { panic("kaboom") }

type errTool struct{}

func (errTool) Spec() ToolSpec {
	return ToolSpec{Type: "function", Function: FunctionSpec{Name: "fail", Parameters: json.RawMessage(`{}`)}}
}
func (errTool) Call(context.Context, json.RawMessage) (any, error) {
	return nil, errors.New("backend said no")
}

func TestLoopToolsThatHangThrowOrFail(t *testing.T) {
	h := hangTool{release: make(chan struct{})}
	defer close(h.release)
	m := &scripted{resps: []ModelResponse{
		toolTurn(call("a", "hang", `{}`), call("b", "boom", `{}`), call("c", "fail", `{}`), call("d", "nope", `{}`),
			call("e", "calculator", `not json`), call("f", "web_search", `{"query":"x"}`), call("g", "calculator", `{"expression":"6*7"}`)),
		textTurn("done"),
	}}
	tools := DefaultTools(nil)
	tools["hang"], tools["boom"], tools["fail"] = h, panicTool{}, errTool{}
	start := time.Now()
	res, err := RunLoop(context.Background(), m, LoopConfig{ToolTimeout: 200 * time.Millisecond}, ModelRequest{Messages: []Message{{Role: "user", Content: "go"}}}, tools, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "done" {
		t.Fatalf("text %q", res.Text)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("a hanging tool held the loop for %v", d)
	}
	got := map[string]string{}
	for _, msg := range m.reqs[1].Messages {
		if msg.Role == "tool" {
			got[msg.ToolCallID] = msg.Content
		}
	}
	want := map[string]string{
		"a": `{"tool_result":{"error":"hang timed out after 200ms","name":"hang"}}`,
		"b": `{"tool_result":{"error":"tool boom failed: kaboom","name":"boom"}}`,
		"c": `{"tool_result":{"error":"backend said no","name":"fail"}}`,
		"e": `{"tool_result":{"error":"tool arguments are not valid JSON","name":"calculator"}}`,
		"f": `{"tool_result":{"error":"` + ErrSearchNotConfigured.Error() + `","name":"web_search"}}`,
		"g": `{"result":42}`,
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("tool %s: %s, want %s", id, got[id], w)
		}
	}
	if !strings.Contains(got["d"], `unknown tool \"nope\"`) {
		t.Errorf("unknown tool: %s", got["d"])
	}
}

func TestLoopToolsRunInParallel(t *testing.T) {
	var running, peak atomic.Int64
	slow := funcTool{name: "slow", fn: func(ctx context.Context) (any, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		defer running.Add(-1)
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
		}
		return "ok", nil
	}}
	m := &scripted{resps: []ModelResponse{toolTurn(call("1", "slow", "{}"), call("2", "slow", "{}"), call("3", "slow", "{}")), textTurn("x")}}
	if _, err := RunLoop(context.Background(), m, LoopConfig{}, ModelRequest{}, Tools{"slow": slow}, nil); err != nil {
		t.Fatal(err)
	}
	if peak.Load() != 3 {
		t.Fatalf("at most %d tools ran at once, want 3", peak.Load())
	}
}

type funcTool struct {
	name string
	fn   func(context.Context) (any, error)
}

func (f funcTool) Spec() ToolSpec {
	return ToolSpec{Type: "function", Function: FunctionSpec{Name: f.name, Parameters: json.RawMessage(`{}`)}}
}
func (f funcTool) Call(ctx context.Context, _ json.RawMessage) (any, error) { return f.fn(ctx) }

func TestLoopStreamsAndBoundsTheAnswer(t *testing.T) {
	m := &scripted{resps: []ModelResponse{textTurn("one two three")}}
	var got strings.Builder
	res, err := RunLoop(context.Background(), m, LoopConfig{}, ModelRequest{}, nil, func(d string) error { got.WriteString(d); return nil })
	if err != nil || got.String() != "one two three" || res.Text != "one two three" {
		t.Fatalf("%q %+v %v", got.String(), res, err)
	}
	m = &scripted{resps: []ModelResponse{textTurn(strings.Repeat("word ", 100))}}
	_, err = RunLoop(context.Background(), m, LoopConfig{MaxAnswerBytes: 50}, ModelRequest{}, nil, func(string) error { return nil })
	if !errors.Is(err, ErrAnswerTooLong) {
		t.Fatalf("endless answer: %v", err)
	}
}

func TestTrimHistory(t *testing.T) {
	var h []Message
	for i := 0; i < 10; i++ {
		h = append(h, Message{Role: "user", Content: strings.Repeat("x", 40)}) // 14 tokens each
	}
	got := TrimHistory(h, 50)
	if len(got) != 3 || &got[0] != &h[7] {
		t.Fatalf("kept %d", len(got))
	}
	h[7].Role = "tool"
	if got := TrimHistory(h, 50); len(got) != 2 {
		t.Fatalf("a tool answer kept without its call: %d", len(got))
	}
	if got := TrimHistory(h, 0); len(got) != 0 {
		t.Fatalf("budget 0 kept %d", len(got))
	}
}

func TestLoopRequiredToolChoiceOnlyFirst(t *testing.T) {
	m := &scripted{resps: []ModelResponse{toolTurn(call("1", "calculator", `{"expression":"1+1"}`)), textTurn("2")}}
	if _, err := RunLoop(context.Background(), m, LoopConfig{}, ModelRequest{ToolChoice: "required"}, DefaultTools(nil), nil); err != nil {
		t.Fatal(err)
	}
	if m.reqs[0].ToolChoice != "required" || m.reqs[1].ToolChoice != "" {
		t.Fatalf("tool_choice %q then %q", m.reqs[0].ToolChoice, m.reqs[1].ToolChoice)
	}
}

func TestMessageContentForms(t *testing.T) {
	var ms []Message
	err := json.Unmarshal([]byte(`[{"role":"user","content":"a"},{"role":"user","content":[{"type":"text","text":"b"},{"type":"text","text":"c"}]},{"role":"assistant","content":null,"tool_calls":[{"id":"1","type":"function","function":{"name":"calculator","arguments":"{}"}}]}]`), &ms)
	if err != nil || ms[0].Content != "a" || ms[1].Content != "bc" || ms[2].Content != "" || ms[2].ToolCalls[0].Function.Name != "calculator" {
		t.Fatalf("%+v %v", ms, err)
	}
	if err := json.Unmarshal([]byte(`{"role":"user","content":5}`), &ms[0]); err == nil {
		t.Fatal("numeric content accepted")
	}
}
