// Package agents owns the ARES platform's agents: built-in and tenant agents, the tool
// loop and its tools, conversations, agent runs, workflows, research and user memory.
package agents

import (
	"context"
	"encoding/json"
	"time"

	"github.com/aria-node/aria/tenancy"
)

// Errors callers act on; the HTTP layer maps them to statuses in one place.
// They are tenancy's, so stores and the HTTP layer share one mapping.
var (
	ErrNotFound = tenancy.ErrNotFound
	ErrConflict = tenancy.ErrConflict
)

// NotFoundError names what was not found ("Agent not found: x").
type NotFoundError struct{ Msg string }

func (e *NotFoundError) Error() string { return e.Msg }
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// InputError is a request the platform refuses as given (HTTP 400).
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

// Message is one OpenAI-style chat message.
type Message struct {
	Role       string     `json:"role"`
	Content    string     `json:"content"`
	Name       string     `json:"name,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

// ToolCall is a model's request to run a tool, as OpenAI sends it.
type ToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// ToolSpec is a tool as the model sees it (an OpenAI "function" tool).
type ToolSpec struct {
	Type     string       `json:"type"`
	Function FunctionSpec `json:"function"`
}

// FunctionSpec describes a callable tool.
type FunctionSpec struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
}

// ModelRequest is one call to a model.
type ModelRequest struct {
	// Model is a configured model name or a tier (fast, balanced, powerful, deepseek, local).
	Model    string
	Messages []Message
	Tools    []ToolSpec
	// ToolChoice "none" forbids tool calls (the forced final answer).
	ToolChoice string
	MaxTokens  int
	TenantID   string
}

// ModelResponse is a model's answer: text, or tool calls.
type ModelResponse struct {
	Model            string
	Message          Message
	FinishReason     string
	PromptTokens     int
	CompletionTokens int
}

// Model is what agents call: the providers registry behind an adapter, or a test double.
// ChatStream calls onDelta with each piece of text as it arrives and returns the whole
// answer (tool calls assembled) at the end.
type Model interface {
	Chat(ctx context.Context, req ModelRequest) (ModelResponse, error)
	ChatStream(ctx context.Context, req ModelRequest, onDelta func(string) error) (ModelResponse, error)
	// ContextLength is the model's context window in tokens (0: unknown).
	ContextLength(model string) int
}

// Source is a retrieved passage an answer drew on.
type Source struct {
	Collection string         `json:"collection,omitempty"`
	DocumentID string         `json:"document_id,omitempty"`
	Content    string         `json:"content"`
	Score      float64        `json:"score"`
	Metadata   map[string]any `json:"metadata,omitempty"`
}

// Retriever finds passages of a tenant's collections for a query (RAG). The rag
// package implements it; nil means no retrieval.
type Retriever interface {
	Retrieve(ctx context.Context, tenantID string, collections []string, query string, maxTokens int) ([]Source, error)
}

// Config is an agent's model and behaviour. The JSON shape is the one tenancy stores
// for provisioned agents, extended.
type Config struct {
	Model        string   `json:"model"`
	SystemPrompt string   `json:"system_prompt"`
	Tools        []string `json:"tools"`
	MaxTokens    int      `json:"max_tokens,omitempty"`
	Temperature  *float64 `json:"temperature,omitempty"`
	// ToolChoice "required" makes the model call a tool on its first turn (later turns
	// are "auto"); "" is auto throughout.
	ToolChoice string `json:"tool_choice,omitempty"`
	// Collections are RAG collections retrieved from before answering.
	Collections []string `json:"collections,omitempty"`
	// Toon is the structured prompt of a TOON definition; SystemPrompt is built from it.
	Toon *Toon `json:"toon,omitempty"`
	// Description and OwnerID ride in the config so the shared agents table needs no
	// new columns.
	Description string `json:"description,omitempty"`
	OwnerID     string `json:"owner_id,omitempty"`
}

// Agent is a named model + prompt + tools. Built-in agents have no tenant.
type Agent struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	Name      string    `json:"name"`
	AgentType string    `json:"agent_type"`
	Config    Config    `json:"config"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	BuiltIn   bool      `json:"-"`
}

// Step is one recorded step of a run: a model turn or a tool call.
type Step struct {
	Iteration  int    `json:"iteration"`
	Kind       string `json:"kind"` // "model", "tool" or "final"
	Tool       string `json:"tool,omitempty"`
	Arguments  string `json:"arguments,omitempty"`
	Result     string `json:"result,omitempty"`
	Error      string `json:"error,omitempty"`
	Model      string `json:"model,omitempty"`
	Tokens     int    `json:"tokens,omitempty"`
	DurationMS int64  `json:"duration_ms"`
}

// Run is one execution of an agent.
type Run struct {
	ID         string          `json:"id"`
	TenantID   string          `json:"tenant_id"`
	AgentID    string          `json:"agent_id"`
	AgentName  string          `json:"agent_name"`
	Status     string          `json:"status"` // completed | failed
	Input      json.RawMessage `json:"input"`
	Output     any             `json:"output"`
	Error      *string         `json:"error"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt time.Time       `json:"finished_at"`
	DurationMS int64           `json:"duration_ms"`
	TokensUsed int64           `json:"tokens_used"`
	Steps      []Step          `json:"steps"`
}

// RunStats summarises an agent's runs.
type RunStats struct {
	TotalRuns      int64     `json:"total_runs"`
	SuccessfulRuns int64     `json:"successful_runs"`
	FailedRuns     int64     `json:"failed_runs"`
	TotalDuration  int64     `json:"-"`
	TotalTokens    int64     `json:"-"`
	LastRun        time.Time `json:"-"`
}

// SuccessRate is successful/total (0 without runs).
func (s RunStats) SuccessRate() float64 {
	if s.TotalRuns == 0 {
		return 0
	}
	return float64(s.SuccessfulRuns) / float64(s.TotalRuns)
}

// Conversation is a stored chat history, owned by a tenant and a user ("" for calls
// made with an API key, which act for the tenant).
type Conversation struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	UserID    string    `json:"user_id"`
	Title     string    `json:"title"`
	Agent     string    `json:"agent"`
	Messages  []Message `json:"messages"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// AgentStore persists tenant agents (the table tenancy's provisioning fills).
type AgentStore interface {
	Agents(ctx context.Context, tenantID string) ([]Agent, error) // by name
	AllAgents(ctx context.Context) ([]Agent, error)               // every tenant's, by tenant then name
	Agent(ctx context.Context, tenantID, name string) (Agent, error)
	CreateAgent(ctx context.Context, a Agent) error // ErrConflict on a taken name
	UpdateAgent(ctx context.Context, a Agent) error // ErrNotFound
	DeleteAgent(ctx context.Context, tenantID, name string) error
}

// RunStore persists agent runs.
type RunStore interface {
	AddRun(ctx context.Context, r Run) error
	// Runs lists an agent's runs newest first, and how many there are.
	Runs(ctx context.Context, tenantID, agentName string, offset, limit int) ([]Run, int, error)
	RunStats(ctx context.Context, tenantID, agentName string) (RunStats, error)
}

// ConversationStore persists conversations, scoped by tenant and user.
type ConversationStore interface {
	SaveConversation(ctx context.Context, c Conversation) error // create or replace
	Conversation(ctx context.Context, tenantID, userID, id string) (Conversation, error)
	Conversations(ctx context.Context, tenantID, userID string) ([]Conversation, error) // newest first, messages left out
	DeleteConversation(ctx context.Context, tenantID, userID, id string) error
}

// TurnSaver is optional: a store that saves a chat turn's conversation and run in one
// transaction (one commit instead of two).
type TurnSaver interface {
	SaveTurn(ctx context.Context, c Conversation, r Run) error
}

// Store is everything the package persists. Implementations: storage/bolt and
// storage/postgres; agents/storetest is the suite both pass.
type Store interface {
	AgentStore
	RunStore
	ConversationStore
}

// UnmarshalJSON accepts content as a string, null, or OpenAI's array of text parts.
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
	c := raw.Content
	if len(c) == 0 || string(c) == "null" {
		return nil
	}
	if c[0] == '[' {
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(c, &parts); err != nil {
			return err
		}
		for _, p := range parts {
			m.Content += p.Text
		}
		return nil
	}
	return json.Unmarshal(c, &m.Content)
}
