package providers

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// completion is an upstream's non-streamed answer (the fields we read).
type completion struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Message      Message `json:"message"`
		FinishReason string  `json:"finish_reason"`
	} `json:"choices"`
	Usage *Usage     `json:"usage"`
	Error *errorBody `json:"error"`
}

// chunk is one streamed event.
type chunk struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Delta struct {
			Content   *string `json:"content"`
			ToolCalls []struct {
				Index    int    `json:"index"`
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *Usage     `json:"usage"`
	Error *errorBody `json:"error"`
}

type errorBody struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    any    `json:"code"`
}

func (e *errorBody) code() string {
	if e == nil || e.Code == nil {
		return ""
	}
	return fmt.Sprint(e.Code)
}

// errMalformed marks an answer that is not an OpenAI chat completion.
var errMalformed = errors.New("malformed upstream answer")

// decodeCompletion reads a non-streamed answer.
func decodeCompletion(body []byte) (*ChatResponse, error) {
	var c completion
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	if c.Error != nil {
		return nil, fmt.Errorf("%w: error in body: %s", errMalformed, c.Error.Message)
	}
	if len(c.Choices) == 0 {
		return nil, fmt.Errorf("%w: no choices", errMalformed)
	}
	ch := c.Choices[0]
	msg := ch.Message
	msg.Role = "assistant"
	for i := range msg.ToolCalls {
		if msg.ToolCalls[i].Type == "" {
			msg.ToolCalls[i].Type = "function"
		}
		if msg.ToolCalls[i].Function.Name == "" {
			return nil, fmt.Errorf("%w: tool call %d has no function name", errMalformed, i)
		}
	}
	resp := &ChatResponse{ID: c.ID, ModelID: c.Model, Message: msg, FinishReason: ch.FinishReason}
	if c.Usage != nil {
		resp.Usage = *c.Usage
	}
	return resp, nil
}

// Stream limits: a line longer than maxSSELine or more than maxToolCalls calls is not
// an answer we serve.
const (
	maxSSELine   = 1 << 20
	maxToolCalls = 128
)

// streamAssembler builds the final response from streamed chunks.
type streamAssembler struct {
	resp     ChatResponse
	content  strings.Builder
	calls    []ToolCall
	byIndex  map[int]int
	done     bool // [DONE] or a finish_reason seen
	gotUsage bool
}

// decodeStream reads an SSE stream of chat.completion.chunk events from r, calling fn
// for every non-empty delta, and returns the assembled response. It stops at
// "data: [DONE]"; a stream that ends before [DONE] or a finish_reason is an error.
func decodeStream(r io.Reader, fn func(Delta) error) (*ChatResponse, error) {
	a := &streamAssembler{byIndex: map[int]int{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxSSELine)
	var data []byte
	var have bool
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 { // end of event
			if have {
				stop, err := a.event(data, fn)
				if err != nil || stop {
					return a.finish(err)
				}
			}
			data, have = data[:0], false
			continue
		}
		if line[0] == ':' {
			continue // comment / keep-alive
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		if string(field) != "data" {
			continue // event:, id:, retry:
		}
		if have {
			data = append(data, '\n')
		}
		data, have = append(data, value...), true
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%w: stream line longer than %d bytes", errMalformed, maxSSELine)
		}
		return nil, err
	}
	if have { // last event without its blank line
		stop, err := a.event(data, fn)
		if err != nil || stop {
			return a.finish(err)
		}
	}
	if !a.done {
		return nil, fmt.Errorf("%w: stream ended before [DONE]", errMalformed)
	}
	return a.finish(nil)
}

// event handles one data payload; stop is true at [DONE].
func (a *streamAssembler) event(data []byte, fn func(Delta) error) (stop bool, err error) {
	if bytes.Equal(bytes.TrimSpace(data), []byte("[DONE]")) {
		a.done = true
		return true, nil
	}
	var c chunk
	if err := json.Unmarshal(data, &c); err != nil {
		return false, fmt.Errorf("%w: stream event: %v", errMalformed, err)
	}
	if c.Error != nil {
		return false, &streamError{body: c.Error}
	}
	if a.resp.ID == "" {
		a.resp.ID = c.ID
	}
	if a.resp.ModelID == "" {
		a.resp.ModelID = c.Model
	}
	if c.Usage != nil {
		a.resp.Usage, a.gotUsage = *c.Usage, true
	}
	if len(c.Choices) == 0 {
		return false, nil
	}
	ch := c.Choices[0]
	var d Delta
	if ch.Delta.Content != nil && *ch.Delta.Content != "" {
		d.Content = *ch.Delta.Content
		a.content.WriteString(d.Content)
	}
	for _, tc := range ch.Delta.ToolCalls {
		i, ok := a.byIndex[tc.Index]
		if !ok {
			if len(a.calls) >= maxToolCalls {
				return false, fmt.Errorf("%w: more than %d tool calls", errMalformed, maxToolCalls)
			}
			i = len(a.calls)
			a.byIndex[tc.Index] = i
			a.calls = append(a.calls, ToolCall{Type: "function"})
		}
		call := &a.calls[i]
		if tc.ID != "" {
			call.ID = tc.ID
		}
		call.Function.Name += tc.Function.Name
		call.Function.Arguments += tc.Function.Arguments
		d.ToolCalls = append(d.ToolCalls, ToolCallDelta{Index: i, ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
	}
	if ch.FinishReason != nil && *ch.FinishReason != "" {
		a.resp.FinishReason = *ch.FinishReason
		a.done = true
	}
	if d.Content != "" || len(d.ToolCalls) > 0 {
		if err := fn(d); err != nil {
			return false, &callbackError{err}
		}
	}
	return false, nil
}

func (a *streamAssembler) finish(err error) (*ChatResponse, error) {
	if err != nil {
		return nil, err
	}
	for i, c := range a.calls {
		if c.Function.Name == "" {
			return nil, fmt.Errorf("%w: streamed tool call %d has no function name", errMalformed, i)
		}
	}
	a.resp.Message = Message{Role: "assistant", Content: a.content.String(), ToolCalls: a.calls}
	if !a.gotUsage {
		a.resp.Usage = Usage{}
	}
	return &a.resp, nil
}

// streamError is an error event inside a stream.
type streamError struct{ body *errorBody }

func (e *streamError) Error() string { return "error event in stream: " + e.body.Message }

// callbackError is the caller's own error from the delta callback, passed back as is.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }
func (e *callbackError) Unwrap() error { return e.err }
