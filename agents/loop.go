package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// LoopConfig bounds the tool loop. Zero values take the documented defaults.
type LoopConfig struct {
	MaxIterations  int           // tool-calling rounds before a forced answer (10)
	ToolTimeout    time.Duration // one tool call (30 s)
	ModelTimeout   time.Duration // one model call (5 min)
	MaxAnswerBytes int           // text one model call may produce (1 MiB)
}

func (c LoopConfig) withDefaults() LoopConfig {
	if c.MaxIterations <= 0 {
		c.MaxIterations = 10
	}
	if c.ToolTimeout <= 0 {
		c.ToolTimeout = 30 * time.Second
	}
	if c.ModelTimeout <= 0 {
		c.ModelTimeout = 5 * time.Minute
	}
	if c.MaxAnswerBytes <= 0 {
		c.MaxAnswerBytes = 1 << 20
	}
	return c
}

// LoopResult is what a tool loop produced. Token counts cover every model call made,
// also when the loop failed part-way.
type LoopResult struct {
	Text             string
	Model            string
	FinishReason     string
	PromptTokens     int
	CompletionTokens int
	Iterations       int // tool rounds run
	Forced           bool
	Steps            []Step
}

// Tokens is the total the loop consumed.
func (r LoopResult) Tokens() int { return r.PromptTokens + r.CompletionTokens }

// ErrAnswerTooLong is a model answer beyond LoopConfig.MaxAnswerBytes (an endless stream).
var ErrAnswerTooLong = errors.New("the model's answer exceeded the size limit")

const forceFinalPrompt = "You have reached the limit of tool calls for this request. Do not call tools. Answer now with the information gathered so far."

// RunLoop asks model, executes the tool calls it makes (in parallel, each bounded by
// ToolTimeout), feeds the results back, and repeats until the model answers with text
// or MaxIterations rounds ran; then it calls the model once more without tools for a
// final answer. onDelta, when set, streams the answer's text.
func RunLoop(ctx context.Context, model Model, cfg LoopConfig, req ModelRequest, tools Tools, onDelta func(string) error) (LoopResult, error) {
	cfg = cfg.withDefaults()
	var res LoopResult
	msgs := append([]Message(nil), req.Messages...)
	specs := make([]ToolSpec, 0, len(tools))
	for _, name := range sortedKeys(tools) {
		specs = append(specs, tools[name].Spec())
	}
	for iter := 0; ; iter++ {
		call := req
		call.Messages = msgs
		if iter > 0 && call.ToolChoice == "required" {
			call.ToolChoice = "" // only the first turn is forced to call a tool
		}
		final := iter >= cfg.MaxIterations
		if len(specs) > 0 && !final {
			call.Tools = specs
		} else {
			call.Tools, call.ToolChoice = nil, ""
			if len(specs) > 0 {
				call.ToolChoice = "none"
				call.Messages = append(append([]Message(nil), msgs...), Message{Role: "system", Content: forceFinalPrompt})
				res.Forced = true
			}
		}
		start := time.Now()
		resp, err := callModel(ctx, model, cfg, call, onDelta)
		res.PromptTokens += resp.PromptTokens
		res.CompletionTokens += resp.CompletionTokens
		step := Step{Iteration: iter, Kind: "model", Model: resp.Model, Tokens: resp.PromptTokens + resp.CompletionTokens, DurationMS: time.Since(start).Milliseconds()}
		if err != nil {
			step.Error = err.Error()
			res.Steps = append(res.Steps, step)
			return res, err
		}
		res.Model = resp.Model
		calls := resp.Message.ToolCalls
		if final || len(specs) == 0 || len(calls) == 0 {
			step.Kind = "final"
			step.Result = truncate(resp.Message.Content, 2000)
			res.Steps = append(res.Steps, step)
			res.Text, res.FinishReason = resp.Message.Content, resp.FinishReason
			if res.FinishReason == "" || res.FinishReason == "tool_calls" {
				res.FinishReason = "stop"
			}
			return res, nil
		}
		res.Steps = append(res.Steps, step)
		res.Iterations++
		for i := range calls {
			if calls[i].ID == "" {
				calls[i].ID = fmt.Sprintf("call_%d_%d", iter, i)
			}
			calls[i].Type = "function"
		}
		msgs = append(msgs, Message{Role: "assistant", Content: resp.Message.Content, ToolCalls: calls})
		outs := runTools(ctx, cfg, tools, calls)
		for i, c := range calls {
			o := outs[i]
			msgs = append(msgs, Message{Role: "tool", ToolCallID: c.ID, Name: c.Function.Name, Content: o.content})
			res.Steps = append(res.Steps, Step{Iteration: iter, Kind: "tool", Tool: c.Function.Name, Arguments: truncate(c.Function.Arguments, 2000),
				Result: truncate(o.result, 2000), Error: o.err, DurationMS: o.dur.Milliseconds()})
		}
	}
}

func callModel(ctx context.Context, model Model, cfg LoopConfig, req ModelRequest, onDelta func(string) error) (ModelResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.ModelTimeout)
	defer cancel()
	if onDelta == nil {
		resp, err := model.Chat(ctx, req)
		if err == nil && len(resp.Message.Content) > cfg.MaxAnswerBytes {
			err = ErrAnswerTooLong
		}
		return resp, err
	}
	n := 0
	resp, err := model.ChatStream(ctx, req, func(d string) error {
		n += len(d)
		if n > cfg.MaxAnswerBytes {
			return ErrAnswerTooLong
		}
		return onDelta(d)
	})
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return resp, err
}

type toolOutcome struct {
	content string // what the model receives
	result  string
	err     string
	dur     time.Duration
}

// runTools executes calls concurrently; each ends within the tool timeout even when
// the tool ignores its context (it is then abandoned, and its late result dropped).
func runTools(ctx context.Context, cfg LoopConfig, tools Tools, calls []ToolCall) []toolOutcome {
	outs := make([]toolOutcome, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			v, err := callTool(ctx, cfg.ToolTimeout, tools, c)
			o := toolOutcome{dur: time.Since(start)}
			if err != nil {
				o.err = err.Error()
				b, _ := json.Marshal(map[string]any{"tool_result": map[string]string{"name": c.Function.Name, "error": o.err}})
				o.content = string(b)
			} else {
				b, merr := json.Marshal(v)
				if merr != nil {
					b, _ = json.Marshal(map[string]any{"tool_result": map[string]string{"name": c.Function.Name, "error": "tool result is not JSON"}})
				}
				o.content, o.result = string(b), string(b)
			}
			outs[i] = o
		}()
	}
	wg.Wait()
	return outs
}

func callTool(ctx context.Context, timeout time.Duration, tools Tools, c ToolCall) (any, error) {
	t, ok := tools[c.Function.Name]
	if !ok {
		return nil, fmt.Errorf("unknown tool %q (available: %v)", c.Function.Name, sortedKeys(tools))
	}
	args := json.RawMessage(c.Function.Arguments)
	if len(args) == 0 {
		args = json.RawMessage("{}")
	}
	if !json.Valid(args) {
		return nil, errors.New("tool arguments are not valid JSON")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type out struct {
		v   any
		err error
	}
	done := make(chan out, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- out{err: fmt.Errorf("tool %s failed: %v", c.Function.Name, p)}
			}
		}()
		v, err := t.Call(ctx, args)
		done <- out{v, err}
	}()
	select {
	case o := <-done:
		if o.err != nil && errors.Is(o.err, context.DeadlineExceeded) && ctx.Err() != nil {
			return nil, timeoutErr(c.Function.Name, timeout)
		}
		return o.v, o.err
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, timeoutErr(c.Function.Name, timeout)
		}
		return nil, ctx.Err()
	}
}

func timeoutErr(name string, d time.Duration) error {
	return fmt.Errorf("%s timed out after %s", name, humanDuration(d))
}

func humanDuration(d time.Duration) string {
	if d >= time.Second && d%time.Second == 0 {
		n := int(d / time.Second)
		if n == 1 {
			return "1 second"
		}
		return fmt.Sprintf("%d seconds", n)
	}
	return d.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
