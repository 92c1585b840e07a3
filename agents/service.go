package agents

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Options configure a Service.
type Options struct {
	Store Store
	Model Model
	// Tools available to agents (default: calculator, and web_search without a backend).
	Tools Tools
	Loop  LoopConfig
	// Retriever, when set, answers agents and chats configured with collections.
	Retriever Retriever
	// Agents are static agents from the node's config ([[agents]]), available to every
	// tenant next to the built-ins; they replace a built-in of the same name.
	Agents    []Agent
	Workflows []Workflow
	// DefaultContext is the context window assumed for a model that does not report one.
	DefaultContext int
	Now            func() time.Time
	Logger         *slog.Logger
}

// Service runs agents for tenants.
type Service struct {
	store     Store
	model     Model
	tools     Tools
	loop      LoopConfig
	retriever Retriever
	static    []Agent
	mu        sync.RWMutex
	convLocks [64]sync.Mutex // striped by conversation id: a turn's reload-append-save is atomic in process
	workflows map[string]Workflow
	defCtx    int
	now       func() time.Time
	log       *slog.Logger
}

// New builds a Service; it refuses cyclic or dangling workflows.
func New(o Options) (*Service, error) {
	if o.Tools == nil {
		o.Tools = DefaultTools(nil)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.DefaultContext <= 0 {
		o.DefaultContext = 4096
	}
	s := &Service{store: o.Store, model: o.Model, tools: o.Tools, loop: o.Loop.withDefaults(), retriever: o.Retriever,
		workflows: map[string]Workflow{}, defCtx: o.DefaultContext, now: o.Now, log: o.Logger}
	static := map[string]Agent{}
	for _, a := range BuiltIns() {
		static[a.Name] = a
	}
	for _, a := range o.Agents {
		a.BuiltIn = true
		if a.ID == "" {
			a.ID = "config-" + a.Name
		}
		if err := s.validate(&a); err != nil {
			return nil, fmt.Errorf("agent %q in the config: %w", a.Name, err)
		}
		static[a.Name] = a
	}
	for _, name := range sortedKeys(static) {
		s.static = append(s.static, static[name])
	}
	for _, w := range append(append([]Workflow{}, builtinWorkflows...), o.Workflows...) {
		if err := s.AddWorkflow(w); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// SetRetriever installs the RAG retriever (the rag package calls it at wiring time).
func (s *Service) SetRetriever(r Retriever) { s.retriever = r }

// Tools reports the tool names agents may use.
func (s *Service) ToolNames() []string { return sortedKeys(s.tools) }

// NewContextID is a fresh conversation id.
func NewContextID() string { return "ctx_" + randHex(12) }

// NewID is a random UUID (version 4).
func NewID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// --- agents

// ValidAgentName is the documented rule: letters, digits and hyphens, 1-64 long.
func ValidAgentName(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '-' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func (s *Service) validate(a *Agent) error {
	if a.Name == "" {
		return &InputError{Msg: "name is required"}
	}
	if !ValidAgentName(a.Name) {
		return &InputError{Msg: fmt.Sprintf("Invalid agent name '%s': use letters, digits and hyphens (at most 64)", a.Name)}
	}
	if a.Config.Toon != nil && a.Config.SystemPrompt == "" {
		a.Config.SystemPrompt = a.Config.Toon.Prompt()
	}
	if strings.TrimSpace(a.Config.SystemPrompt) == "" {
		return &InputError{Msg: "system_prompt is required"}
	}
	if len(a.Config.SystemPrompt) > 64<<10 {
		return &InputError{Msg: "system_prompt is longer than 64 KiB"}
	}
	if a.Config.Model == "" {
		a.Config.Model = "balanced"
	}
	if a.AgentType == "" {
		a.AgentType = a.Name
	}
	if a.Config.Tools == nil {
		a.Config.Tools = []string{}
	}
	seen := map[string]bool{}
	tools := a.Config.Tools[:0]
	for _, t := range a.Config.Tools {
		if _, ok := s.tools[t]; !ok {
			return &InputError{Msg: fmt.Sprintf("Unknown tool '%s'. Available tools: %s", t, strings.Join(s.ToolNames(), ", "))}
		}
		if !seen[t] {
			seen[t] = true
			tools = append(tools, t)
		}
	}
	a.Config.Tools = tools
	switch a.Config.ToolChoice {
	case "", "auto":
		a.Config.ToolChoice = ""
	case "required":
		if len(a.Config.Tools) == 0 {
			return &InputError{Msg: "tool_choice 'required' needs tools"}
		}
	default:
		return &InputError{Msg: fmt.Sprintf("Invalid tool_choice '%s': use auto or required", a.Config.ToolChoice)}
	}
	if a.Config.MaxTokens < 0 || a.Config.MaxTokens > 1<<20 {
		return &InputError{Msg: "max_tokens must be between 0 and 1048576"}
	}
	return nil
}

// StaticAgents lists the built-in and config agents.
func (s *Service) StaticAgents() []Agent { return append([]Agent(nil), s.static...) }

func agentNotFound(name string) error { return &NotFoundError{Msg: "Agent not found: " + name} }

// TenantAgents lists a tenant's own agents (none for the node owner's open-mode calls).
func (s *Service) TenantAgents(ctx context.Context, tenantID string) ([]Agent, error) {
	if tenantID == "" {
		return nil, nil
	}
	return s.store.Agents(ctx, tenantID)
}

// Agents lists what a tenant can use: its own agents, then the built-ins it does not
// shadow.
func (s *Service) Agents(ctx context.Context, tenantID string) ([]Agent, error) {
	own, err := s.TenantAgents(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, a := range own {
		names[a.Name] = true
	}
	out := own
	for _, a := range s.static {
		if !names[a.Name] {
			out = append(out, a)
		}
	}
	return out, nil
}

// Agent finds an agent by name: the tenant's, else a built-in.
func (s *Service) Agent(ctx context.Context, tenantID, name string) (Agent, error) {
	if tenantID != "" {
		a, err := s.store.Agent(ctx, tenantID, name)
		if err == nil {
			return a, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return Agent{}, err
		}
	}
	for _, a := range s.static {
		if a.Name == name {
			return a, nil
		}
	}
	return Agent{}, agentNotFound(name)
}

// Resolve picks the agent a chat's agent_type names: the tenant's agent of that name,
// else the tenant's agent of that type, else a built-in of that name or type.
func (s *Service) Resolve(ctx context.Context, tenantID, agentType string) (Agent, error) {
	a, err := s.Agent(ctx, tenantID, agentType)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return a, err
	}
	own, err := s.TenantAgents(ctx, tenantID)
	if err != nil {
		return Agent{}, err
	}
	for _, a := range own {
		if a.AgentType == agentType {
			return a, nil
		}
	}
	for _, a := range s.static {
		if a.AgentType == agentType {
			return a, nil
		}
	}
	return Agent{}, agentNotFound(agentType)
}

// CreateAgent stores a tenant agent.
func (s *Service) CreateAgent(ctx context.Context, tenantID string, a Agent) (Agent, error) {
	if tenantID == "" {
		return Agent{}, &InputError{Msg: "creating agents needs a tenant (an API key or a user session)"}
	}
	if err := s.validate(&a); err != nil {
		return Agent{}, err
	}
	a.ID, a.TenantID, a.BuiltIn = NewID(), tenantID, false
	a.CreatedAt = s.now().UTC()
	a.UpdatedAt = a.CreatedAt
	if err := s.store.CreateAgent(ctx, a); err != nil {
		return Agent{}, err
	}
	return a, nil
}

// UpdateAgent replaces a tenant agent's definition (its id and creation time stay).
func (s *Service) UpdateAgent(ctx context.Context, tenantID string, a Agent) (Agent, error) {
	old, err := s.store.Agent(ctx, tenantID, a.Name)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Agent{}, agentNotFound(a.Name)
		}
		return Agent{}, err
	}
	if err := s.validate(&a); err != nil {
		return Agent{}, err
	}
	a.ID, a.TenantID, a.CreatedAt = old.ID, tenantID, old.CreatedAt
	a.UpdatedAt = s.now().UTC()
	if err := s.store.UpdateAgent(ctx, a); err != nil {
		return Agent{}, err
	}
	return a, nil
}

// DeleteAgent removes a tenant agent.
func (s *Service) DeleteAgent(ctx context.Context, tenantID, name string) error {
	if tenantID == "" {
		return agentNotFound(name)
	}
	err := s.store.DeleteAgent(ctx, tenantID, name)
	if errors.Is(err, ErrNotFound) {
		return agentNotFound(name)
	}
	return err
}

// ImportTOON creates (or, with replace, updates) the agents a TOON document defines.
func (s *Service) ImportTOON(ctx context.Context, tenantID, ownerID string, doc []byte, replace bool) ([]Agent, error) {
	as, err := DecodeTOON(doc)
	if err != nil {
		return nil, &InputError{Msg: err.Error()}
	}
	for i := range as {
		as[i].Config.OwnerID = ownerID
		if err := s.validate(&as[i]); err != nil {
			return nil, err
		}
	}
	out := make([]Agent, 0, len(as))
	for _, a := range as {
		got, err := s.CreateAgent(ctx, tenantID, a)
		if errors.Is(err, ErrConflict) && replace {
			got, err = s.UpdateAgent(ctx, tenantID, a)
		}
		if err != nil {
			return out, err
		}
		out = append(out, got)
	}
	return out, nil
}

// --- runs

// Stats summarises an agent's runs.
func (s *Service) Stats(ctx context.Context, tenantID, name string) (RunStats, error) {
	return s.store.RunStats(ctx, tenantID, name)
}

// Runs lists an agent's runs, newest first.
func (s *Service) Runs(ctx context.Context, tenantID, name string, offset, limit int) ([]Run, int, error) {
	return s.store.Runs(ctx, tenantID, name, offset, limit)
}

// RunInput is what POST /v1/agents/{name}/run takes.
type RunInput struct {
	Message string         `json:"message"`
	Context map[string]any `json:"context,omitempty"`
}

// RunAgent runs an agent once on input and records the run (failed runs too). usage,
// when set, receives the tokens of every model call.
func (s *Service) RunAgent(ctx context.Context, tenantID, name string, in RunInput, usage func(prompt, completion int)) (Run, error) {
	a, err := s.Agent(ctx, tenantID, name)
	if err != nil {
		return Run{}, err
	}
	if strings.TrimSpace(in.Message) == "" {
		return Run{}, &InputError{Msg: "input.message is required"}
	}
	raw, _ := json.Marshal(in)
	msg := in.Message
	if len(in.Context) > 0 {
		c, _ := json.Marshal(in.Context)
		msg += "\n\nContext (JSON): " + string(c)
	}
	start := s.now().UTC()
	msgs, sources, err := s.prompt(ctx, tenantID, a, nil, []Message{{Role: "user", Content: msg}}, nil, 0)
	var res LoopResult
	if err == nil {
		res, err = RunLoop(ctx, s.model, s.loop, ModelRequest{Model: a.Config.Model, Messages: msgs, MaxTokens: a.Config.MaxTokens, TenantID: tenantID, ToolChoice: a.Config.ToolChoice}, s.agentTools(a), nil)
	}
	if usage != nil {
		usage(res.PromptTokens, res.CompletionTokens)
	}
	r := Run{ID: NewID(), TenantID: tenantID, AgentID: a.ID, AgentName: a.Name, Input: raw, StartedAt: start,
		TokensUsed: int64(res.Tokens()), Steps: res.Steps}
	if err != nil {
		msg := err.Error()
		r.Status, r.Error = "failed", &msg
	} else {
		r.Status, r.Output = "completed", runOutput(res.Text, sources)
	}
	r.FinishedAt = s.now().UTC()
	r.DurationMS = r.FinishedAt.Sub(start).Milliseconds()
	if r.Steps == nil {
		r.Steps = []Step{}
	}
	if serr := s.store.AddRun(context.WithoutCancel(ctx), r); serr != nil {
		return r, serr
	}
	return r, nil
}

// runOutput is the answer as JSON when the model answered JSON, else {"response": text}.
func runOutput(text string, sources []Source) any {
	t := strings.TrimSpace(text)
	t = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(t, "```json"), "```"), "```")
	var v any
	if d := strings.TrimSpace(t); strings.HasPrefix(d, "{") && json.Unmarshal([]byte(d), &v) == nil {
		return v
	}
	out := map[string]any{"response": text}
	if len(sources) > 0 {
		out["sources"] = sources
	}
	return out
}

func (s *Service) agentTools(a Agent) Tools {
	ts := Tools{}
	for _, n := range a.Config.Tools {
		if t, ok := s.tools[n]; ok {
			ts[n] = t
		}
	}
	return ts
}

// prompt builds the messages of a turn: the agent's system prompt, retrieved passages,
// the history trimmed to the model's context window (oldest first), and the new turn.
func (s *Service) prompt(ctx context.Context, tenantID string, a Agent, history, turn []Message, collections []string, maxTokens int) ([]Message, []Source, error) {
	sys := a.Config.SystemPrompt
	var sources []Source
	cols := append(append([]string{}, a.Config.Collections...), collections...)
	if len(cols) > 0 && s.retriever != nil {
		query := ""
		for i := len(turn) - 1; i >= 0; i-- {
			if turn[i].Role == "user" {
				query = turn[i].Content
				break
			}
		}
		var err error
		sources, err = s.retriever.Retrieve(ctx, tenantID, cols, query, s.contextOf(a.Config.Model)/4)
		if err != nil {
			return nil, nil, fmt.Errorf("retrieval: %w", err)
		}
		if len(sources) > 0 {
			var b strings.Builder
			b.WriteString("\n\nUse these passages from the user's documents when they are relevant, and say which you used:\n")
			for i, src := range sources {
				fmt.Fprintf(&b, "[%d] %s\n", i+1, src.Content)
			}
			sys += b.String()
		}
	}
	msgs := []Message{{Role: "system", Content: sys}}
	if maxTokens <= 0 {
		maxTokens = a.Config.MaxTokens
	}
	budget := s.contextOf(a.Config.Model) - max(maxTokens, 256) - estimateTokens(msgs) - estimateTokens(turn)
	history = TrimHistory(history, budget)
	msgs = append(msgs, history...)
	msgs = append(msgs, turn...)
	return msgs, sources, nil
}

func (s *Service) contextOf(model string) int {
	if s.model != nil {
		if n := s.model.ContextLength(model); n > 0 {
			return n
		}
	}
	return s.defCtx
}

// estimateTokens is the trimming estimate: a token per 4 bytes of text (never less
// than a token per rune-ish word), plus 4 per message for the chat template.
func estimateTokens(msgs []Message) int {
	n := 0
	for _, m := range msgs {
		n += 4 + (len(m.Content)+3)/4
		for _, c := range m.ToolCalls {
			n += (len(c.Function.Name) + len(c.Function.Arguments) + 3) / 4
		}
	}
	return n
}

// TrimHistory drops the oldest messages until the rest fits budget tokens (by the
// estimate above). A tool answer is never kept without the call it answers.
func TrimHistory(history []Message, budget int) []Message {
	i := 0
	for i < len(history) && estimateTokens(history[i:]) > budget {
		i++
	}
	for i < len(history) && history[i].Role == "tool" {
		i++
	}
	return history[i:]
}

func validUTF8(ms []Message) bool {
	for _, m := range ms {
		if !utf8.ValidString(m.Content) {
			return false
		}
	}
	return true
}

// TenantAgentByName is a tenant's own agent (built-ins are not the tenant's to edit).
func (s *Service) TenantAgentByName(ctx context.Context, tenantID, name string) (Agent, error) {
	a, err := s.store.Agent(ctx, tenantID, name)
	if errors.Is(err, ErrNotFound) {
		return a, agentNotFound(name)
	}
	return a, err
}

// AllTenantAgents lists every tenant's agents (the admin view).
func (s *Service) AllTenantAgents(ctx context.Context) ([]Agent, error) {
	return s.store.AllAgents(ctx)
}
