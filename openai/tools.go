package openai

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/inference/jsonschema"
)

// Tool is one entry of "tools".
type Tool struct {
	Type     string       `json:"type"`
	Function ToolFunction `json:"function"`
}

// ToolFunction describes a callable function.
type ToolFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ToolChoice is "tool_choice": "auto", "none", "required", or
// {"type":"function","function":{"name":...}}.
type ToolChoice struct {
	Mode     string // auto, none, required, or function
	Function string // when Mode is function
}

func (c *ToolChoice) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s != "auto" && s != "none" && s != "required" {
			return &fieldError{field: "tool_choice", msg: fmt.Sprintf("must be auto, none, required or a function object, got %q", s)}
		}
		c.Mode = s
		return nil
	}
	var obj struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(b, &obj); err != nil || obj.Type != "function" || obj.Function.Name == "" {
		return &fieldError{field: "tool_choice", msg: `must be auto, none, required or {"type":"function","function":{"name":...}}`}
	}
	c.Mode, c.Function = "function", obj.Function.Name
	return nil
}

func (c ToolChoice) MarshalJSON() ([]byte, error) {
	if c.Mode == "function" {
		return json.Marshal(map[string]any{"type": "function", "function": map[string]string{"name": c.Function}})
	}
	return json.Marshal(c.Mode)
}

// ResponseFormat is "response_format".
type ResponseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
}

// JSONSchema is response_format.json_schema.
type JSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ToolCall is one call in an assistant message.
type ToolCall struct {
	ID       string           `json:"id"`
	Type     string           `json:"type"`
	Function ToolCallFunction `json:"function"`
}

// ToolCallFunction is the called function; Arguments is a JSON text.
type ToolCallFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// ToolCallDelta is a streamed piece of a tool call: index always, id, type and name
// in the first piece, arguments in pieces.
type ToolCallDelta struct {
	Index    int                `json:"index"`
	ID       string             `json:"id,omitempty"`
	Type     string             `json:"type,omitempty"`
	Function *ToolCallFuncDelta `json:"function,omitempty"`
}

// ToolCallFuncDelta is the function part of a ToolCallDelta.
type ToolCallFuncDelta struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// ChoiceLogprobs is a choice's "logprobs".
type ChoiceLogprobs struct {
	Content []TokenLogprob `json:"content"`
	Refusal []TokenLogprob `json:"refusal,omitempty"`
}

// TokenLogprob is one token's log-probability.
type TokenLogprob struct {
	Token       string       `json:"token"`
	Logprob     float32      `json:"logprob"`
	Bytes       []int        `json:"bytes"`
	TopLogprobs []TopLogprob `json:"top_logprobs"`
}

// TopLogprob is one alternative token.
type TopLogprob struct {
	Token   string  `json:"token"`
	Logprob float32 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

func byteInts(b []byte) []int {
	out := make([]int, len(b))
	for i, c := range b {
		out[i] = int(c)
	}
	return out
}

// toTokenLogprob converts an engine token's logprob.
func toTokenLogprob(t inference.Token) TokenLogprob {
	out := TokenLogprob{Token: string(t.Bytes), Logprob: t.Logprob.Logprob, Bytes: byteInts(t.Bytes), TopLogprobs: []TopLogprob{}}
	for _, a := range t.Logprob.Top {
		out.TopLogprobs = append(out.TopLogprobs, TopLogprob{Token: string(a.Bytes), Logprob: a.Logprob, Bytes: byteInts(a.Bytes)})
	}
	return out
}

// toolParams is how a chat request uses tools, once validated.
type toolParams struct {
	tools          []Tool
	mode           string // "", auto, required, function
	toolChoiceName string // when mode is function
	parallel       bool
}

// formatOf validates response_format, tools and tool_choice and returns the output
// constraint they ask for (nil for none). A schema is enforced whatever "strict" says,
// as llama-server does: clients that omit strict still expect valid output.
func formatOf(r *ChatCompletionRequest) (*inference.Format, toolParams, *APIError) {
	var tp toolParams
	seen := map[string]bool{}
	for i, t := range r.Tools {
		if t.Type != "function" {
			return nil, tp, invalidRequest("'tools[%d].type' must be \"function\", got %q", i, t.Type)
		}
		if !validToolName(t.Function.Name) {
			return nil, tp, invalidRequest("'tools[%d].function.name' must be 1-64 letters, digits, underscores or dashes, got %q", i, t.Function.Name)
		}
		if seen[t.Function.Name] {
			return nil, tp, invalidRequest("'tools[%d].function.name' %q is defined twice", i, t.Function.Name)
		}
		seen[t.Function.Name] = true
	}
	tp.tools = r.Tools
	tp.parallel = r.ParallelToolCalls == nil || *r.ParallelToolCalls
	if r.ToolChoice != nil {
		tp.mode = r.ToolChoice.Mode
		if len(r.Tools) == 0 && tp.mode != "none" {
			return nil, tp, invalidRequest("'tool_choice' is %q but no 'tools' are given", r.ToolChoice.Mode)
		}
		tp.toolChoiceName = r.ToolChoice.Function
		if tp.mode == "function" && !seen[r.ToolChoice.Function] {
			return nil, tp, invalidRequest("'tool_choice.function.name' %q is not one of the tools", r.ToolChoice.Function)
		}
	} else if len(r.Tools) > 0 {
		tp.mode = "auto"
	}
	if tp.mode == "none" {
		tp.mode = ""
	}
	var f *inference.Format
	if rf := r.ResponseFormat; rf != nil {
		switch rf.Type {
		case "text", "":
			if rf.Type == "" {
				return nil, tp, invalidRequest("'response_format.type' is required (text, json_object or json_schema)")
			}
		case "json_object":
			f = &inference.Format{Type: inference.FormatJSONObject}
		case "json_schema":
			if rf.JSONSchema == nil {
				return nil, tp, invalidRequest("'response_format.json_schema' is required when type is json_schema")
			}
			if rf.JSONSchema.Name == "" {
				return nil, tp, invalidRequest("'response_format.json_schema.name' is required")
			}
			if len(rf.JSONSchema.Schema) == 0 || string(rf.JSONSchema.Schema) == "null" {
				f = &inference.Format{Type: inference.FormatJSONObject}
			} else {
				f = &inference.Format{Type: inference.FormatJSONSchema, Schema: rf.JSONSchema.Schema}
			}
		default:
			return nil, tp, invalidRequest("'response_format.type' must be text, json_object or json_schema, got %q", rf.Type)
		}
	}
	if tp.mode != "" {
		if f != nil && tp.mode != "auto" {
			return nil, tp, invalidRequest("'response_format' cannot be combined with tool_choice %q: the answer must be a tool call", tp.mode)
		}
		if f == nil || tp.mode != "auto" {
			tf := &inference.Format{Type: inference.FormatToolCalls, Required: tp.mode != "auto", Parallel: tp.parallel}
			for _, t := range r.Tools {
				if tp.mode == "function" && t.Function.Name != r.ToolChoice.Function {
					continue
				}
				tf.Tools = append(tf.Tools, inference.ToolSpec{Name: t.Function.Name, Parameters: t.Function.Parameters})
			}
			if tp.mode == "function" {
				tf.Parallel = false
			}
			f = tf
		}
	}
	if f != nil {
		if _, err := f.Grammar(); err != nil {
			return nil, tp, formatError(err, f, r)
		}
	}
	return f, tp, nil
}

// formatError names the request field a format compile error is about.
func formatError(err error, f *inference.Format, r *ChatCompletionRequest) *APIError {
	var fe *inference.FormatError
	var se *jsonschema.Error
	field := "response_format"
	if errors.As(err, &fe) {
		switch {
		case f.Type == inference.FormatJSONSchema:
			field = "response_format.json_schema.schema"
		case strings.HasPrefix(fe.Field, "tools["):
			field = toolField(fe.Field, f, r)
		default:
			field = fe.Field
		}
	}
	if errors.As(err, &se) {
		return invalidRequest("'%s' at %s: %s", field, se.Path, se.Msg)
	}
	return invalidRequest("'%s': %v", field, errors.Unwrap(err))
}

// toolField maps the index of a tool in the format back to its index in the request.
func toolField(field string, f *inference.Format, r *ChatCompletionRequest) string {
	var i int
	if _, err := fmt.Sscanf(field, "tools[%d]", &i); err != nil || i >= len(f.Tools) {
		return field
	}
	for j, t := range r.Tools {
		if t.Function.Name == f.Tools[i].Name {
			return fmt.Sprintf("tools[%d].function.parameters", j)
		}
	}
	return field
}

func validToolName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// hermesToolsPrompt is the system text that offers tools to the model (the Hermes /
// Qwen 2.5 wording, which models trained for tools recognise).
func hermesToolsPrompt(tools []Tool, mode, only string) string {
	var sb strings.Builder
	sb.WriteString("# Tools\n\nYou may call one or more functions to assist with the user query.\n\n")
	sb.WriteString("You are provided with function signatures within <tools></tools> XML tags:\n<tools>")
	for _, t := range tools {
		if mode == "function" && t.Function.Name != only {
			continue
		}
		params := t.Function.Parameters
		if len(params) == 0 {
			params = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		b, _ := json.Marshal(map[string]any{"type": "function", "function": map[string]any{
			"name": t.Function.Name, "description": t.Function.Description, "parameters": params}})
		sb.WriteString("\n")
		sb.Write(b)
	}
	sb.WriteString("\n</tools>\n\nFor each function call, return a json object with function name and arguments within " +
		"<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>")
	return sb.String()
}

// renderMessages turns API messages (tool calls and tool results included) into the
// engine's system/user/assistant turns in the Hermes format.
func renderMessages(r *ChatCompletionRequest, tp toolParams) ([]inference.Message, *APIError) {
	msgs := make([]inference.Message, 0, len(r.Messages)+1)
	calls := map[string]bool{} // ids of calls made so far
	for i, m := range r.Messages {
		role, ok := roleAlias[m.Role]
		if m.Role == "tool" {
			role, ok = "tool", true
		}
		if !ok {
			if m.Role == "" {
				return nil, invalidRequest("'messages[%d].role' is required", i)
			}
			return nil, invalidRequest("'messages[%d].role' must be one of system, developer, user, assistant, tool; got %q", i, m.Role)
		}
		if len(m.ToolCalls) > 0 && role != "assistant" {
			return nil, invalidRequest("'messages[%d].tool_calls' is only allowed on assistant messages", i)
		}
		switch role {
		case "tool":
			if m.ToolCallID == "" {
				return nil, invalidRequest("'messages[%d].tool_call_id' is required on tool messages", i)
			}
			if !calls[m.ToolCallID] {
				return nil, invalidRequest("'messages[%d].tool_call_id' %q does not match a tool call of an earlier assistant message", i, m.ToolCallID)
			}
			text := "<tool_response>\n" + string(m.Content) + "\n</tool_response>"
			// Consecutive tool results share one user turn, as the Hermes format does.
			if n := len(msgs); n > 0 && msgs[n-1].Role == "user" && strings.HasPrefix(msgs[n-1].Content, "<tool_response>") && i > 0 && r.Messages[i-1].Role == "tool" {
				msgs[n-1].Content += "\n" + text
			} else {
				msgs = append(msgs, inference.Message{Role: "user", Content: text})
			}
		case "assistant":
			var sb strings.Builder
			sb.WriteString(string(m.Content))
			for j, c := range m.ToolCalls {
				if c.ID == "" {
					return nil, invalidRequest("'messages[%d].tool_calls[%d].id' is required", i, j)
				}
				if c.Function.Name == "" {
					return nil, invalidRequest("'messages[%d].tool_calls[%d].function.name' is required", i, j)
				}
				args := strings.TrimSpace(c.Function.Arguments)
				if args == "" {
					args = "{}"
				}
				if !json.Valid([]byte(args)) {
					return nil, invalidRequest("'messages[%d].tool_calls[%d].function.arguments' must be a JSON text", i, j)
				}
				calls[c.ID] = true
				name, _ := json.Marshal(c.Function.Name)
				if sb.Len() > 0 {
					sb.WriteString("\n")
				}
				fmt.Fprintf(&sb, "%s\n{\"name\": %s, \"arguments\": %s}\n%s", inference.ToolCallOpen, name, args, inference.ToolCallClose)
			}
			msgs = append(msgs, inference.Message{Role: "assistant", Content: sb.String()})
		default:
			msgs = append(msgs, inference.Message{Role: role, Content: string(m.Content)})
		}
	}
	if tp.mode != "" && len(tp.tools) > 0 {
		only := ""
		if tp.mode == "function" {
			only = tp.toolChoiceName
		}
		msgs = withSystem(msgs, hermesToolsPrompt(tp.tools, tp.mode, only))
	}
	return msgs, nil
}

// parseToolCalls reads the calls out of a generation in the Hermes format; ok is
// false when the text is not (only) tool calls.
func parseToolCalls(text string) (calls []ToolCall, ok bool) {
	rest := strings.TrimSpace(text)
	if !strings.HasPrefix(rest, inference.ToolCallOpen) {
		return nil, false
	}
	for rest != "" {
		if !strings.HasPrefix(rest, inference.ToolCallOpen) {
			return nil, false
		}
		end := strings.Index(rest, inference.ToolCallClose)
		if end < 0 {
			return nil, false
		}
		body := strings.TrimSpace(rest[len(inference.ToolCallOpen):end])
		var call struct {
			Name      string          `json:"name"`
			Arguments json.RawMessage `json:"arguments"`
		}
		if err := json.Unmarshal([]byte(body), &call); err != nil || call.Name == "" {
			return nil, false
		}
		args := call.Arguments
		if len(args) == 0 {
			args = json.RawMessage("{}")
		}
		calls = append(calls, ToolCall{ID: newCallID(), Type: "function", Function: ToolCallFunction{Name: call.Name, Arguments: string(args)}})
		rest = strings.TrimSpace(rest[end+len(inference.ToolCallClose):])
	}
	return calls, len(calls) > 0
}

func newCallID() string {
	var b [12]byte
	rand.Read(b[:])
	return "call_" + hex.EncodeToString(b[:])
}
