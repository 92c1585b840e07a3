package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/aria-node/aria/inference"
)

// ResponsesRequest is the body of POST /v1/responses. aria is stateless here: nothing
// is stored whatever "store" says, and previous_response_id is refused.
type ResponsesRequest struct {
	Model              string            `json:"model"`
	Input              ResponsesInput    `json:"input"`
	Instructions       *string           `json:"instructions"`
	MaxOutputTokens    *int              `json:"max_output_tokens"`
	Temperature        *float64          `json:"temperature"`
	TopP               *float64          `json:"top_p"`
	Tools              []ResponsesTool   `json:"tools"`
	ToolChoice         *ResponsesChoice  `json:"tool_choice"`
	ParallelToolCalls  *bool             `json:"parallel_tool_calls"`
	Text               *ResponsesText    `json:"text"`
	Stream             bool              `json:"stream"`
	Store              *bool             `json:"store"`
	PreviousResponseID string            `json:"previous_response_id"`
	Metadata           map[string]string `json:"metadata"`
	User               string            `json:"user"`
	Seed               *int64            `json:"seed"`
}

// ResponsesInput is "input": a string (one user message) or a list of items.
type ResponsesInput struct {
	Items []ResponsesItem
	set   bool
}

func (in *ResponsesInput) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	in.set = !bytes.Equal(b, []byte("null"))
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		in.Items = []ResponsesItem{{Role: "user", Content: TextContent(s)}}
		return nil
	}
	if len(b) > 0 && b[0] == '[' {
		if err := json.Unmarshal(b, &in.Items); err != nil {
			return &fieldError{field: "input", msg: "must be a string or an array of input items: " + err.Error()}
		}
		return nil
	}
	if !in.set {
		return nil
	}
	return &fieldError{field: "input", msg: "must be a string or an array of input items"}
}

// ResponsesItem is one input item: a message (role + content), a function_call the
// model made, or a function_call_output.
type ResponsesItem struct {
	Type      string      `json:"type"`
	Role      string      `json:"role"`
	Content   TextContent `json:"content"`
	CallID    string      `json:"call_id"`
	Name      string      `json:"name"`
	Arguments string      `json:"arguments"`
	Output    string      `json:"output"`
}

// ResponsesTool is a function tool in the Responses API's flat shape.
type ResponsesTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ResponsesChoice is "tool_choice": auto, none, required or {type:function, name}.
type ResponsesChoice struct{ ToolChoice }

func (c *ResponsesChoice) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var obj struct {
			Type string `json:"type"`
			Name string `json:"name"`
		}
		if err := json.Unmarshal(b, &obj); err != nil || obj.Type != "function" || obj.Name == "" {
			return &fieldError{field: "tool_choice", msg: `must be auto, none, required or {"type":"function","name":...}`}
		}
		c.Mode, c.Function = "function", obj.Name
		return nil
	}
	return c.ToolChoice.UnmarshalJSON(b)
}

func (c ResponsesChoice) MarshalJSON() ([]byte, error) {
	if c.Mode == "function" {
		return json.Marshal(map[string]string{"type": "function", "name": c.Function})
	}
	return json.Marshal(c.Mode)
}

// ResponsesText is "text": the output format.
type ResponsesText struct {
	Format *ResponsesFormat `json:"format,omitempty"`
}

// ResponsesFormat is text.format: text, json_object or json_schema (flat).
type ResponsesFormat struct {
	Type        string          `json:"type"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// Response is the response object.
type Response struct {
	ID                string            `json:"id"`
	Object            string            `json:"object"`
	CreatedAt         int64             `json:"created_at"`
	Status            string            `json:"status"`
	Error             *ErrorBody        `json:"error"`
	IncompleteDetails *Incomplete       `json:"incomplete_details"`
	Instructions      *string           `json:"instructions"`
	MaxOutputTokens   *int              `json:"max_output_tokens"`
	Model             string            `json:"model"`
	Output            []OutputItem      `json:"output"`
	ParallelToolCalls bool              `json:"parallel_tool_calls"`
	Temperature       *float64          `json:"temperature"`
	TopP              *float64          `json:"top_p"`
	ToolChoice        any               `json:"tool_choice"`
	Tools             []ResponsesTool   `json:"tools"`
	Text              ResponsesText     `json:"text"`
	Store             bool              `json:"store"`
	Metadata          map[string]string `json:"metadata"`
	Usage             *ResponsesUsage   `json:"usage"`
}

// Incomplete says why a response stopped early.
type Incomplete struct {
	Reason string `json:"reason"`
}

// OutputItem is a message or a function call.
type OutputItem struct {
	Type      string       `json:"type"`
	ID        string       `json:"id"`
	Status    string       `json:"status"`
	Role      string       `json:"role,omitempty"`
	Content   []OutputText `json:"content,omitempty"`
	CallID    string       `json:"call_id,omitempty"`
	Name      string       `json:"name,omitempty"`
	Arguments *string      `json:"arguments,omitempty"`
}

// OutputText is a message's text part.
type OutputText struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	Annotations []any  `json:"annotations"`
}

// ResponsesUsage counts tokens in the Responses API's names.
type ResponsesUsage struct {
	InputTokens         int            `json:"input_tokens"`
	InputTokensDetails  map[string]int `json:"input_tokens_details"`
	OutputTokens        int            `json:"output_tokens"`
	OutputTokensDetails map[string]int `json:"output_tokens_details"`
	TotalTokens         int            `json:"total_tokens"`
}

// toChatRequest maps a Responses request onto the chat endpoint's request, so both
// share validation, rendering and constraints.
func toChatRequest(r *ResponsesRequest) (*ChatCompletionRequest, *APIError) {
	switch {
	case r.Model == "":
		return nil, invalidRequest("'model' field is required")
	case !r.Input.set:
		return nil, invalidRequest("'input' field is required")
	case r.PreviousResponseID != "":
		return nil, invalidRequest("'previous_response_id' is not supported: aria's Responses API is stateless; send the whole conversation in 'input'")
	}
	c := &ChatCompletionRequest{Model: r.Model, MaxTokens: r.MaxOutputTokens, Temperature: r.Temperature, TopP: r.TopP,
		ParallelToolCalls: r.ParallelToolCalls, Stream: r.Stream, Seed: r.Seed, User: r.User, Metadata: r.Metadata}
	if r.MaxOutputTokens != nil && *r.MaxOutputTokens <= 0 {
		return nil, invalidRequest("'max_output_tokens' must be a positive integer, got %d", *r.MaxOutputTokens)
	}
	if r.Instructions != nil && *r.Instructions != "" {
		c.Messages = append(c.Messages, ChatMessage{Role: "system", Content: TextContent(*r.Instructions)})
	}
	for i, it := range r.Input.Items {
		switch it.Type {
		case "", "message":
			if it.Role == "" {
				return nil, invalidRequest("'input[%d].role' is required", i)
			}
			if it.Role == "tool" {
				return nil, invalidRequest("'input[%d].role' must be user, system, developer or assistant; send tool results as function_call_output items", i)
			}
			c.Messages = append(c.Messages, ChatMessage{Role: it.Role, Content: it.Content})
		case "function_call":
			if it.CallID == "" || it.Name == "" {
				return nil, invalidRequest("'input[%d]' function_call needs call_id and name", i)
			}
			call := ToolCall{ID: it.CallID, Type: "function", Function: ToolCallFunction{Name: it.Name, Arguments: it.Arguments}}
			if n := len(c.Messages); n > 0 && c.Messages[n-1].Role == "assistant" && len(c.Messages[n-1].ToolCalls) > 0 {
				c.Messages[n-1].ToolCalls = append(c.Messages[n-1].ToolCalls, call)
			} else {
				c.Messages = append(c.Messages, ChatMessage{Role: "assistant", ToolCalls: []ToolCall{call}})
			}
		case "function_call_output":
			if it.CallID == "" {
				return nil, invalidRequest("'input[%d].call_id' is required", i)
			}
			c.Messages = append(c.Messages, ChatMessage{Role: "tool", ToolCallID: it.CallID, Content: TextContent(it.Output)})
		default:
			return nil, invalidRequest("'input[%d].type' %q is not supported (message, function_call, function_call_output)", i, it.Type)
		}
	}
	if len(c.Messages) == 0 {
		return nil, invalidRequest("'input' must not be empty")
	}
	for i, t := range r.Tools {
		if t.Type != "function" {
			return nil, invalidRequest("'tools[%d].type' %q is not supported: only function tools", i, t.Type)
		}
		c.Tools = append(c.Tools, Tool{Type: "function", Function: ToolFunction{Name: t.Name, Description: t.Description, Parameters: t.Parameters, Strict: t.Strict}})
	}
	if r.ToolChoice != nil {
		tc := r.ToolChoice.ToolChoice
		c.ToolChoice = &tc
	}
	if r.Text != nil && r.Text.Format != nil {
		f := r.Text.Format
		switch f.Type {
		case "text":
		case "json_object":
			c.ResponseFormat = &ResponseFormat{Type: "json_object"}
		case "json_schema":
			if f.Name == "" {
				return nil, invalidRequest("'text.format.name' is required")
			}
			c.ResponseFormat = &ResponseFormat{Type: "json_schema", JSONSchema: &JSONSchema{Name: f.Name, Schema: f.Schema, Strict: f.Strict}}
		default:
			return nil, invalidRequest("'text.format.type' must be text, json_object or json_schema, got %q", f.Type)
		}
	}
	return c, nil
}

// responseError renames chat field paths to the Responses API's.
func responseError(e *APIError) *APIError {
	out := *e
	out.Message = replaceAll(out.Message, map[string]string{
		"'response_format.json_schema.schema'": "'text.format.schema'", "'response_format.json_schema.name'": "'text.format.name'",
		"'max_tokens'": "'max_output_tokens'", "'messages": "'input", ".function.parameters'": ".parameters'", ".function.name'": ".name'",
	})
	return &out
}

func replaceAll(s string, m map[string]string) string {
	for k, v := range m {
		s = string(bytes.ReplaceAll([]byte(s), []byte(k), []byte(v)))
	}
	return s
}

func (s *Server) handleResponses(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var req ResponsesRequest
	if !s.decodeRequest(w, r, &req) {
		return
	}
	chat, apiErr := toChatRequest(&req)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	p, apiErr := toEngineRequest(chat)
	if apiErr != nil {
		writeError(w, responseError(apiErr))
		return
	}
	if !s.hasModel(req.Model) {
		writeError(w, modelNotFound(req.Model))
		return
	}
	last := ""
	for _, m := range p.req.Messages {
		if m.Role == "user" {
			last = m.Content
		}
	}
	end, apiErr := s.admitOther(r, "responses", req.Model, last)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	if end != nil {
		defer end()
	}
	resp := Response{ID: "resp_" + newID()[len("chatcmpl-aria-"):], Object: "response", CreatedAt: time.Now().Unix(),
		Status: "in_progress", Instructions: req.Instructions, MaxOutputTokens: req.MaxOutputTokens, Model: req.Model,
		Output: []OutputItem{}, ParallelToolCalls: p.tools.parallel, Temperature: req.Temperature, TopP: req.TopP,
		ToolChoice: "auto", Tools: req.Tools, Metadata: req.Metadata}
	if resp.Tools == nil {
		resp.Tools = []ResponsesTool{}
	}
	if resp.Metadata == nil {
		resp.Metadata = map[string]string{}
	}
	if req.ToolChoice != nil {
		resp.ToolChoice = req.ToolChoice
	}
	resp.Text = ResponsesText{Format: &ResponsesFormat{Type: "text"}}
	if req.Text != nil && req.Text.Format != nil {
		resp.Text = *req.Text
	}
	if req.Stream {
		s.streamResponse(w, r, p, resp, start)
		return
	}
	res, err := s.generate(r.Context(), p.req, start, nil)
	if err != nil {
		if r.Context().Err() == nil {
			writeError(w, fromEngine(err))
		}
		return
	}
	finishResponse(&resp, res, p)
	writeJSON(w, http.StatusOK, resp)
}

// finishResponse fills output, status and usage from a finished generation.
func finishResponse(resp *Response, res inference.Result, p chatParams) {
	calls, ok := []ToolCall(nil), false
	if p.tools.mode != "" && res.FinishReason == inference.FinishStop {
		calls, ok = parseToolCalls(res.Text)
	}
	if ok {
		for _, c := range calls {
			args := c.Function.Arguments
			resp.Output = append(resp.Output, OutputItem{Type: "function_call", ID: "fc_" + c.ID[len("call_"):], Status: "completed",
				CallID: c.ID, Name: c.Function.Name, Arguments: &args})
		}
	} else {
		resp.Output = append(resp.Output, messageItem(newItemID(), res.Text, "completed"))
	}
	complete(resp, res)
}

func complete(resp *Response, res inference.Result) {
	resp.Status = "completed"
	if res.FinishReason == inference.FinishLength {
		resp.Status = "incomplete"
		resp.IncompleteDetails = &Incomplete{Reason: "max_output_tokens"}
	}
	resp.Usage = &ResponsesUsage{InputTokens: res.PromptTokens, OutputTokens: res.CompletionTokens,
		TotalTokens:        res.PromptTokens + res.CompletionTokens,
		InputTokensDetails: map[string]int{"cached_tokens": 0}, OutputTokensDetails: map[string]int{"reasoning_tokens": 0}}
}

func messageItem(id, text, status string) OutputItem {
	return OutputItem{Type: "message", ID: id, Status: status, Role: "assistant",
		Content: []OutputText{{Type: "output_text", Text: text, Annotations: []any{}}}}
}

func newItemID() string { return "msg_" + newID()[len("chatcmpl-aria-"):] }

// streamResponse streams the documented event sequence: response.created,
// response.in_progress, then per output item output_item.added, (content_part.added,
// output_text.delta…, output_text.done, content_part.done) or
// (function_call_arguments.delta…, function_call_arguments.done), output_item.done,
// and finally response.completed (or response.incomplete) with usage.
func (s *Server) streamResponse(w http.ResponseWriter, r *http.Request, p chatParams, resp Response, start time.Time) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	sse := newSSE(w)
	seq := 0
	send := func(typ string, fields map[string]any) error {
		fields["type"] = typ
		fields["sequence_number"] = seq
		seq++
		return sse.named(typ, fields)
	}
	ts := newToolStream(p.tools.mode != "auto")
	if p.tools.mode == "" {
		ts.state = tsText
	}
	var textItem *OutputItem
	var text, textID string
	var fnItems []*OutputItem
	started := false
	begin := func() error {
		if started {
			return nil
		}
		started = true
		snap := resp
		if err := send("response.created", map[string]any{"response": snap}); err != nil {
			return err
		}
		return send("response.in_progress", map[string]any{"response": snap})
	}
	closeText := func() error {
		if textItem == nil {
			return nil
		}
		idx := 0
		part := OutputText{Type: "output_text", Text: text, Annotations: []any{}}
		if err := send("response.output_text.done", map[string]any{"item_id": textItem.ID, "output_index": idx, "content_index": 0, "text": text}); err != nil {
			return err
		}
		if err := send("response.content_part.done", map[string]any{"item_id": textItem.ID, "output_index": idx, "content_index": 0, "part": part}); err != nil {
			return err
		}
		done := messageItem(textItem.ID, text, "completed")
		textItem = nil
		return send("response.output_item.done", map[string]any{"output_index": idx, "item": done})
	}
	emitText := func(delta string) error {
		if delta == "" {
			return nil
		}
		if textItem == nil {
			it := messageItem(newItemID(), "", "in_progress")
			it.Content = []OutputText{}
			textItem, textID = &it, it.ID
			if err := send("response.output_item.added", map[string]any{"output_index": 0, "item": it}); err != nil {
				return err
			}
			if err := send("response.content_part.added", map[string]any{"item_id": it.ID, "output_index": 0, "content_index": 0,
				"part": OutputText{Type: "output_text", Text: "", Annotations: []any{}}}); err != nil {
				return err
			}
		}
		text += delta
		return send("response.output_text.delta", map[string]any{"item_id": textItem.ID, "output_index": 0, "content_index": 0, "delta": delta})
	}
	closeCall := func(i int) error {
		it := fnItems[i]
		it.Status = "completed"
		if err := send("response.function_call_arguments.done", map[string]any{"item_id": it.ID, "output_index": i, "arguments": *it.Arguments}); err != nil {
			return err
		}
		return send("response.output_item.done", map[string]any{"output_index": i, "item": *it})
	}
	onDeltas := func(deltas []ToolCallDelta) error {
		for _, d := range deltas {
			if d.ID != "" {
				if d.Index > 0 {
					if err := closeCall(d.Index - 1); err != nil {
						return err
					}
				}
				empty := ""
				it := &OutputItem{Type: "function_call", ID: "fc_" + d.ID[len("call_"):], Status: "in_progress", CallID: d.ID, Name: d.Function.Name, Arguments: &empty}
				fnItems = append(fnItems, it)
				if err := send("response.output_item.added", map[string]any{"output_index": d.Index, "item": *it}); err != nil {
					return err
				}
				continue
			}
			if d.Function != nil && d.Function.Arguments != "" {
				it := fnItems[d.Index]
				*it.Arguments += d.Function.Arguments
				if err := send("response.function_call_arguments.delta", map[string]any{"item_id": it.ID, "output_index": d.Index, "delta": d.Function.Arguments}); err != nil {
					return err
				}
			}
		}
		return nil
	}
	res, err := s.generate(ctx, p.req, start, func(t inference.Token) error {
		if err := begin(); err != nil {
			return err
		}
		content, deltas := ts.push(t.Text)
		if err := emitText(content); err != nil {
			return err
		}
		return onDeltas(deltas)
	})
	if err != nil {
		if r.Context().Err() != nil {
			return
		}
		apiErr := fromEngine(err)
		if !sse.started {
			writeError(w, apiErr)
			return
		}
		resp.Status = "failed"
		resp.Error = &ErrorBody{Message: apiErr.Message, Type: apiErr.Type, Code: apiErr.Code}
		send("response.failed", map[string]any{"response": resp})
		return
	}
	if begin() != nil {
		return
	}
	if emitText(ts.flush()) != nil {
		return
	}
	if len(fnItems) > 0 && closeCall(len(fnItems)-1) != nil {
		return
	}
	if !ts.isCalls() && textItem == nil {
		// An empty answer is still one message.
		it := messageItem(newItemID(), "", "in_progress")
		it.Content = []OutputText{}
		textItem, textID = &it, it.ID
		if send("response.output_item.added", map[string]any{"output_index": 0, "item": it}) != nil {
			return
		}
	}
	if closeText() != nil {
		return
	}
	if ts.isCalls() {
		for _, it := range fnItems {
			resp.Output = append(resp.Output, *it)
		}
	} else {
		resp.Output = append(resp.Output, messageItem(textID, text, "completed"))
	}
	complete(&resp, res)
	kind := "response.completed"
	if resp.Status == "incomplete" {
		kind = "response.incomplete"
	}
	send(kind, map[string]any{"response": resp})
}
