package providers

import (
	"bytes"
	"encoding/json"
	"strings"
)

// ChatRequest is one chat turn. Model is resolved by the Registry (see the package
// doc); a Provider receives its own model id there. Zero values are left out of the
// upstream request, so the upstream's defaults apply.
type ChatRequest struct {
	Model      string    `json:"model"`
	Messages   []Message `json:"messages"`
	Tools      []Tool    `json:"tools,omitempty"`
	ToolChoice any       `json:"tool_choice,omitempty"` // "auto", "none", "required" or {"type":"function",...}
	// ParallelToolCalls false asks for at most one call per turn (nil: the provider's default).
	ParallelToolCalls *bool    `json:"parallel_tool_calls,omitempty"`
	MaxTokens         int      `json:"max_tokens,omitempty"`
	Temperature       *float64 `json:"temperature,omitempty"`
	TopP              *float64 `json:"top_p,omitempty"`
	Stop              []string `json:"stop,omitempty"`
	Seed              *int64   `json:"seed,omitempty"`
	// ResponseFormat is passed through as given ({"type":"json_object"} etc).
	ResponseFormat json.RawMessage `json:"response_format,omitempty"`
	User           string          `json:"user,omitempty"`
	// TaskType is aria's consent task type; only aria nodes understand it, so the
	// Registry sends it to the built-in providers only.
	TaskType string `json:"task_type,omitempty"`
	// Stream is set by ChatStream; callers need not set it.
	Stream bool `json:"stream,omitempty"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// Message is one chat message in OpenAI's shape.
type Message struct {
	Role       string     `json:"role"`
	Content    string     `json:"content"`
	Name       string     `json:"name,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

// MarshalJSON writes content as null for an assistant message that only calls tools,
// as OpenAI does.
func (m Message) MarshalJSON() ([]byte, error) {
	type plain Message
	if m.Content == "" && len(m.ToolCalls) > 0 {
		return json.Marshal(struct {
			plain
			Content *string `json:"content"`
		}{plain: plain(m)})
	}
	return json.Marshal(plain(m))
}

// UnmarshalJSON accepts content as a string, null, or an array of text parts.
func (m *Message) UnmarshalJSON(b []byte) error {
	type plain Message
	var raw struct {
		plain
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*m = Message(raw.plain)
	text, err := decodeContent(raw.Content)
	m.Content = text
	return err
}

func decodeContent(b json.RawMessage) (string, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		return "", nil
	}
	if b[0] == '[' {
		var parts []struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(b, &parts); err != nil {
			return "", err
		}
		var sb strings.Builder
		for _, p := range parts {
			sb.WriteString(p.Text)
		}
		return sb.String(), nil
	}
	var s string
	err := json.Unmarshal(b, &s)
	return s, err
}

// Tool is a function the model may call.
type Tool struct {
	Type     string       `json:"type"` // "function"
	Function ToolFunction `json:"function"`
}

// ToolFunction describes a callable function; Parameters is a JSON Schema.
type ToolFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

// ToolCall is one call in an assistant message; Arguments is a JSON text.
type ToolCall struct {
	ID       string           `json:"id"`
	Type     string           `json:"type"`
	Function ToolCallFunction `json:"function"`
}

// ToolCallFunction is the called function.
type ToolCallFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// Usage counts tokens as the provider reported them.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// ChatResponse is the assembled answer of one turn.
type ChatResponse struct {
	ID           string  `json:"id"`
	Model        string  `json:"model"`    // the configured name that served (the tier's pick)
	ModelID      string  `json:"model_id"` // the provider's model id
	Provider     string  `json:"provider"`
	Message      Message `json:"message"`
	FinishReason string  `json:"finish_reason"`
	Usage        Usage   `json:"usage"`
	// UsageEstimated is true when the provider reported no usage and the counts are
	// estimated from the text (about 4 bytes a token).
	UsageEstimated bool `json:"usage_estimated,omitempty"`
	// Failed lists the attempts that failed before this one, in order (fallback).
	Failed []FailedAttempt `json:"failed,omitempty"`
}

// FailedAttempt is one model of a tier that failed before another served.
type FailedAttempt struct {
	Model    string `json:"model"`
	Provider string `json:"provider"`
	Error    string `json:"error"`
}

// Delta is one streamed piece: content text and/or tool-call fragments (by index; ID
// and Name come in the first fragment of a call, Arguments in pieces).
type Delta struct {
	Content   string          `json:"content,omitempty"`
	ToolCalls []ToolCallDelta `json:"tool_calls,omitempty"`
}

// ToolCallDelta is a fragment of the tool call at Index.
type ToolCallDelta struct {
	Index     int    `json:"index"`
	ID        string `json:"id,omitempty"`
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments,omitempty"`
}

// ModelInfo describes one model the registry can serve.
type ModelInfo struct {
	Name          string `json:"name"`
	Provider      string `json:"provider"`
	ModelID       string `json:"model_id"`
	Tier          string `json:"tier,omitempty"`
	ContextLength int    `json:"context_length,omitempty"`
	// Kind is "local" (this node's kernel), "network" (a peer's) or "upstream".
	Kind    string `json:"kind"`
	OwnedBy string `json:"owned_by,omitempty"`
}
