// Package openai is aria's OpenAI-compatible HTTP API: wire types, pure converters
// between them and the inference engine's types, the handlers, the SSE writer and the
// error helpers. It knows nothing of peers or libp2p: it serves whatever Backend the
// node gives it.
package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// ChatCompletionRequest is the body of POST /v1/chat/completions. Unknown fields are
// ignored, as OpenAI does. Pointers distinguish "absent" from zero.
type ChatCompletionRequest struct {
	Model               string            `json:"model"`
	Messages            []ChatMessage     `json:"messages"`
	MaxTokens           *int              `json:"max_tokens"`
	MaxCompletionTokens *int              `json:"max_completion_tokens"`
	Temperature         *float64          `json:"temperature"`
	TopP                *float64          `json:"top_p"`
	N                   *int              `json:"n"`
	Stop                StopSequences     `json:"stop"`
	Stream              bool              `json:"stream"`
	StreamOptions       *StreamOptions    `json:"stream_options"`
	Seed                *int64            `json:"seed"`
	PresencePenalty     *float64          `json:"presence_penalty"`
	FrequencyPenalty    *float64          `json:"frequency_penalty"`
	User                string            `json:"user"`
	Metadata            map[string]string `json:"metadata"`
	// TaskType declares the request's task type for the node's consent contract
	// (text_gen, code_gen, summarization, translation); aria's extension.
	TaskType string `json:"task_type"`
	// Extensions llama-server and Ollama users expect.
	TopK          *int     `json:"top_k"`
	MinP          *float64 `json:"min_p"`
	RepeatPenalty *float64 `json:"repeat_penalty"`
	// Tools, structured outputs and logprobs (tools.go).
	Tools             []Tool          `json:"tools"`
	ToolChoice        *ToolChoice     `json:"tool_choice"`
	ParallelToolCalls *bool           `json:"parallel_tool_calls"`
	ResponseFormat    *ResponseFormat `json:"response_format"`
	Logprobs          bool            `json:"logprobs"`
	TopLogprobs       *int            `json:"top_logprobs"`
}

// StreamOptions is stream_options.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// ChatMessage is one message. Content may be a string or an array of content parts
// (only text parts are accepted).
type ChatMessage struct {
	Role       string      `json:"role"`
	Content    TextContent `json:"content"`
	Name       string      `json:"name,omitempty"`
	ToolCalls  []ToolCall  `json:"tool_calls,omitempty"`   // assistant messages
	ToolCallID string      `json:"tool_call_id,omitempty"` // tool messages
}

// TextContent is a message's text: a JSON string, null, or an array of
// {"type":"text","text":...} parts, which are concatenated.
type TextContent string

func (c *TextContent) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*c = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*c = TextContent(s)
		return nil
	case len(b) > 0 && b[0] == '[':
		var parts []struct {
			Type string  `json:"type"`
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(b, &parts); err != nil {
			return &fieldError{field: "content", msg: "must be a string or an array of text parts"}
		}
		var sb strings.Builder
		for i, p := range parts {
			if (p.Type != "text" && p.Type != "input_text" && p.Type != "output_text") || p.Text == nil {
				return &fieldError{field: "content", msg: fmt.Sprintf("part %d has type %q: only text parts are supported", i, p.Type)}
			}
			sb.WriteString(*p.Text)
		}
		*c = TextContent(sb.String())
		return nil
	}
	return &fieldError{field: "content", msg: "must be a string or an array of text parts"}
}

// fieldError is a problem found by a custom decoder. encoding/json does not add the
// field's path to such errors, so the decoder names its own field and jsonError
// completes the path.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return fmt.Sprintf("'%s' %s", e.field, e.msg) }

// StopSequences is "stop": a string or an array of strings.
type StopSequences []string

func (s *StopSequences) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*s = nil
		return nil
	case len(b) > 0 && b[0] == '"':
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = StopSequences{one}
		return nil
	case len(b) > 0 && b[0] == '[':
		var many []string
		if err := json.Unmarshal(b, &many); err != nil {
			return &fieldError{field: "stop", msg: "must be a string or an array of strings"}
		}
		*s = many
		return nil
	}
	return &fieldError{field: "stop", msg: "must be a string or an array of strings"}
}

// ChatCompletion is the non-streaming response.
type ChatCompletion struct {
	ID                string   `json:"id"`
	Object            string   `json:"object"`
	Created           int64    `json:"created"`
	Model             string   `json:"model"`
	Choices           []Choice `json:"choices"`
	Usage             Usage    `json:"usage"`
	SystemFingerprint string   `json:"system_fingerprint"`
}

// Choice is one completion.
type Choice struct {
	Index        int             `json:"index"`
	Message      ResponseMessage `json:"message"`
	Logprobs     *ChoiceLogprobs `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

// ResponseMessage is the assistant's message. Content is null when the model called
// tools.
type ResponseMessage struct {
	Role      string     `json:"role"`
	Content   *string    `json:"content"`
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	Refusal   *string    `json:"refusal"`
}

// Usage counts tokens.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// ChatCompletionChunk is one SSE event of a streamed completion.
type ChatCompletionChunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"`
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	Choices           []ChunkChoice `json:"choices"`
	Usage             *Usage        `json:"usage,omitempty"`
	SystemFingerprint string        `json:"system_fingerprint"`
}

// ChunkChoice is one choice's delta.
type ChunkChoice struct {
	Index        int             `json:"index"`
	Delta        Delta           `json:"delta"`
	Logprobs     *ChoiceLogprobs `json:"logprobs,omitempty"`
	FinishReason *string         `json:"finish_reason"`
}

// Delta is the new part of a streamed message.
type Delta struct {
	Role      string          `json:"role,omitempty"`
	Content   string          `json:"content,omitempty"`
	ToolCalls []ToolCallDelta `json:"tool_calls,omitempty"`
}

// ModelList is GET /v1/models.
type ModelList struct {
	Object string  `json:"object"`
	Data   []Model `json:"data"`
}

// Model is one model. Aria describes the model beyond OpenAI's fields.
type Model struct {
	ID         string      `json:"id"`
	Object     string      `json:"object"`
	Created    int64       `json:"created"`
	OwnedBy    string      `json:"owned_by"`
	Permission []any       `json:"permission"`
	Root       string      `json:"root"`
	Parent     *string     `json:"parent"`
	Aria       *ModelExtra `json:"aria,omitempty"`
}

// ModelExtra is aria's description of a model.
type ModelExtra struct {
	Architecture  string   `json:"architecture"`
	Parameters    uint64   `json:"parameters"`
	QuantTypes    []string `json:"quant_types"`
	ContextLength int      `json:"context_length"`
	Synthetic     bool     `json:"synthetic"`
	Note          string   `json:"note,omitempty"`
	Remote        bool     `json:"remote"`
	FileSize      int64    `json:"file_size,omitempty"` // bytes of the GGUF, when the node knows it
}

// Status is GET /v1/status.
//
// The names llama_cli_available and llama_cli_path come from the original ARIA
// server, which ran llama.cpp's CLI as a subprocess. aria runs llama.cpp in process,
// so here they describe the native kernel: llama_cli_available is true when the
// in-process kernel has at least one model loaded and can generate;
// llama_cli_path is the path of the executable that contains it (the aria binary), or
// "" when it is unavailable.
type Status struct {
	Backend           string `json:"backend"`
	LlamaCLIAvailable bool   `json:"llama_cli_available"`
	LlamaCLIPath      string `json:"llama_cli_path"`
	ModelsCount       int    `json:"models_count"`
	Version           string `json:"version"`
	// Aria's additions.
	ActiveSlots int `json:"active_slots"`
	TotalSlots  int `json:"total_slots"`
	Queued      int `json:"queued"`
	QueueSize   int `json:"queue_size"`
	// Consent is the owner's contract and whether the node takes remote work now.
	Consent *ConsentStatus `json:"consent,omitempty"`
	// Threads and DutyCycle are how the kernel runs work for others, under the
	// contract's cpu_percent; the owner's own requests use OwnerThreads at full duty.
	Threads      int     `json:"threads,omitempty"`
	DutyCycle    float64 `json:"duty_cycle,omitempty"`
	OwnerThreads int     `json:"owner_threads,omitempty"`
}

// ConsentStatus is the consent part of GET /v1/status.
type ConsentStatus struct {
	Contract     ConsentContract `json:"contract"`
	Accepting    bool            `json:"accepting"`
	Reason       *ConsentReason  `json:"reason,omitempty"` // why not, when not accepting
	RunningTasks int             `json:"running_tasks"`    // remote tasks running now
}

// ConsentContract is the owner's contract as GET /v1/status shows it (the wire form of consent.Contract; a test
// in node keeps the two JSON shapes equal).
type ConsentContract struct {
	CPUPercent         int      `json:"cpu_percent"`
	MaxRAMMB           int      `json:"max_ram_mb"`
	MaxBandwidthMbps   float64  `json:"max_bandwidth_mbps"`
	Schedule           string   `json:"schedule"`
	Timezone           string   `json:"timezone"`
	Days               []string `json:"days"`
	TaskTypes          []string `json:"task_types"`
	MaxConcurrentTasks int      `json:"max_concurrent_tasks"`
	AllowLogging       bool     `json:"allow_logging"`
}

// ConsentReason is why the node does not take remote work now.
type ConsentReason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Health is GET /health and /v1/health.
type Health struct {
	Status        string            `json:"status"`
	Version       string            `json:"version"`
	UptimeSeconds int64             `json:"uptime_seconds"`
	Node          HealthNode        `json:"node"`
	Endpoints     map[string]string `json:"endpoints"`
}

// HealthNode is the node section of Health.
type HealthNode struct {
	URI           string `json:"uri"`
	Status        string `json:"status"`
	NodeID        string `json:"node_id"`
	UptimeSeconds int64  `json:"uptime_seconds"`
	IsRunning     bool   `json:"is_running"`
}

// Energy is GET /v1/energy, in the spec's shape plus the measurement method.
type Energy struct {
	SessionUptimeSeconds float64        `json:"session_uptime_seconds"`
	TotalInferences      int64          `json:"total_inferences"`
	TotalTokensGenerated int64          `json:"total_tokens_generated"`
	TotalEnergyMJ        float64        `json:"total_energy_mj"`
	TotalEnergyKWh       float64        `json:"total_energy_kwh"`
	AvgEnergyPerTokenMJ  float64        `json:"avg_energy_per_token_mj"`
	Savings              EnergySavings  `json:"savings"`
	RecentHistory        []EnergyRecord `json:"recent_history"`
	// Aria's additions: how energy is measured, what it is compared with, and totals
	// across restarts (the fields above are this session's, as the spec says).
	Method     string            `json:"method"`
	MeterNote  string            `json:"meter_note,omitempty"`
	References *EnergyReferences `json:"references,omitempty"`
	Lifetime   *EnergyLifetime   `json:"lifetime,omitempty"`
}

// EnergyReferences are the figures savings are computed against.
type EnergyReferences struct {
	GPUMJPerToken    float64 `json:"gpu_mj_per_token"`
	CloudMJPerToken  float64 `json:"cloud_mj_per_token"`
	CO2KgPerKWh      float64 `json:"co2_kg_per_kwh"`
	CloudUSDPerToken float64 `json:"cloud_usd_per_token"`
	LocalUSDPerToken float64 `json:"local_usd_per_token"`
	WattsPerCore     float64 `json:"watts_per_core,omitempty"` // cpu_time method only
}

// EnergySavings compares the node's energy with reference figures.
type EnergySavings struct {
	VsGPU        EnergySaving `json:"vs_gpu"`
	VsCloud      EnergySaving `json:"vs_cloud"`
	CO2SavedKg   float64      `json:"co2_saved_kg"`
	CostSavedUSD float64      `json:"cost_saved_usd"`
}

// EnergySaving is one comparison.
type EnergySaving struct {
	EnergySavedMJ    float64 `json:"energy_saved_mj"`
	EnergySavedKWh   float64 `json:"energy_saved_kwh"`
	ReductionPercent float64 `json:"reduction_percent"`
}

// EnergyRecord is one inference in recent_history.
type EnergyRecord struct {
	Timestamp float64 `json:"timestamp"`
	EnergyMJ  float64 `json:"energy_mj"`
	Tokens    int     `json:"tokens"`
	Model     string  `json:"model"`
}

// EnergyLifetime holds totals across restarts, from the node's ledger. When more
// than one method measured them, by_method keeps them apart.
type EnergyLifetime struct {
	Since                string                        `json:"since"`
	TotalInferences      int64                         `json:"total_inferences"`
	TotalTokensGenerated int64                         `json:"total_tokens_generated"`
	TotalEnergyMJ        float64                       `json:"total_energy_mj"`
	TotalEnergyKWh       float64                       `json:"total_energy_kwh"`
	AvgEnergyPerTokenMJ  float64                       `json:"avg_energy_per_token_mj"`
	ByMethod             map[string]EnergyMethodTotals `json:"by_method"`
}

// EnergyMethodTotals are lifetime totals measured by one method.
type EnergyMethodTotals struct {
	Inferences int64   `json:"inferences"`
	Tokens     int64   `json:"tokens"`
	EnergyMJ   float64 `json:"energy_mj"`
}

// ErrorResponse is every error body: {"error":{"message","type","code"}}.
type ErrorResponse struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody is the error object.
type ErrorBody struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    string `json:"code"`
}
