package agents

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ChatRequest is one chat turn in either documented shape: {message, agent_type?,
// context_id?} or {messages[], model?}.
type ChatRequest struct {
	TenantID  string
	UserID    string
	Message   string
	Messages  []Message
	AgentType string
	Model     string
	ContextID string
	// Collections to retrieve from (RAG), besides the agent's own.
	Collections []string
	MaxTokens   int
}

// ChatResult is a chat turn's answer.
type ChatResult struct {
	ID               string
	Agent            string
	ContextID        string
	Model            string
	Text             string
	FinishReason     string
	PromptTokens     int
	CompletionTokens int
	Sources          []Source
	Steps            []Step
}

// Tokens is what the turn consumed, routing included.
func (r ChatResult) Tokens() int { return r.PromptTokens + r.CompletionTokens }

// Limits on a chat request.
const (
	MaxChatMessages    = 1000
	maxConversationLen = 2000 // stored messages per conversation; the oldest go first
)

// ChatTurn is a prepared chat turn: the agent is chosen and the conversation loaded,
// so errors can still be answered as plain JSON before a stream starts.
type ChatTurn struct {
	s       *Service
	req     ChatRequest
	agent   Agent
	conv    Conversation
	isNew   bool
	turn    []Message
	routing LoopResult
}

// Agent is the agent that answers the turn.
func (t *ChatTurn) Agent() Agent { return t.agent }

// ContextID is the conversation the turn continues or starts.
func (t *ChatTurn) ContextID() string { return t.conv.ID }

// PrepareChat validates req, loads its conversation (another tenant's or user's id is
// not found) and picks the agent: agent_type, else the conversation's agent, else the
// router's choice. Routing tokens are reported through usage.
func (s *Service) PrepareChat(ctx context.Context, req ChatRequest, usage func(prompt, completion int)) (*ChatTurn, error) {
	t := &ChatTurn{s: s, req: req}
	switch {
	case strings.TrimSpace(req.Message) != "":
		t.turn = []Message{{Role: "user", Content: req.Message}}
	case len(req.Messages) > 0:
		if len(req.Messages) > MaxChatMessages {
			return nil, &InputError{Msg: fmt.Sprintf("at most %d messages", MaxChatMessages)}
		}
		for _, m := range req.Messages {
			switch m.Role {
			case "user", "assistant", "system":
			default:
				return nil, &InputError{Msg: fmt.Sprintf("Invalid message role '%s': use user, assistant or system", m.Role)}
			}
			t.turn = append(t.turn, Message{Role: m.Role, Content: m.Content})
		}
	default:
		return nil, &InputError{Msg: "message (or messages) is required"}
	}
	if !validUTF8(t.turn) {
		return nil, &InputError{Msg: "messages must be UTF-8 text"}
	}
	now := s.now().UTC()
	if req.ContextID != "" {
		c, err := s.store.Conversation(ctx, req.TenantID, req.UserID, req.ContextID)
		if errors.Is(err, ErrNotFound) {
			return nil, &NotFoundError{Msg: "Conversation not found: " + req.ContextID}
		}
		if err != nil {
			return nil, err
		}
		t.conv = c
	} else {
		t.conv = Conversation{ID: NewContextID(), TenantID: req.TenantID, UserID: req.UserID, CreatedAt: now, Title: title(t.turn)}
		t.isNew = true
	}
	var err error
	switch {
	case req.AgentType != "":
		t.agent, err = s.Resolve(ctx, req.TenantID, req.AgentType)
	case t.conv.Agent != "":
		t.agent, err = s.Agent(ctx, req.TenantID, t.conv.Agent)
		if errors.Is(err, ErrNotFound) { // the agent was deleted since: route again
			t.agent, err = s.route(ctx, t, usage)
		}
	default:
		t.agent, err = s.route(ctx, t, usage)
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

func title(turn []Message) string {
	for _, m := range turn {
		if m.Role == "user" {
			return truncate(strings.Join(strings.Fields(m.Content), " "), 60)
		}
	}
	return "Conversation"
}

// route asks the router agent which specialist should answer; an answer naming none
// falls back to the product agent (the general-purpose one).
func (s *Service) route(ctx context.Context, t *ChatTurn, usage func(int, int)) (Agent, error) {
	router, err := s.Agent(ctx, t.req.TenantID, "router")
	if err != nil {
		return Agent{}, err
	}
	cands, err := s.Agents(ctx, t.req.TenantID)
	if err != nil {
		return Agent{}, err
	}
	var list strings.Builder
	var names []string
	for _, a := range cands {
		if a.Name == "router" {
			continue
		}
		names = append(names, a.Name)
		fmt.Fprintf(&list, "- %s: %s\n", a.Name, oneLine(a))
	}
	last := t.turn[len(t.turn)-1].Content
	msgs := []Message{{Role: "system", Content: router.Config.SystemPrompt + "\n\nAgents:\n" + list.String()},
		{Role: "user", Content: truncate(last, 4000)}}
	res, err := RunLoop(ctx, s.model, s.loop, ModelRequest{Model: router.Config.Model, Messages: msgs, MaxTokens: 16, TenantID: t.req.TenantID}, nil, nil)
	if usage != nil {
		usage(res.PromptTokens, res.CompletionTokens)
	}
	t.routing = res
	if err != nil {
		return Agent{}, fmt.Errorf("router: %w", err)
	}
	pick := PickName(res.Text, names)
	if pick == "" {
		pick = "product"
	}
	return s.Agent(ctx, t.req.TenantID, pick)
}

func oneLine(a Agent) string {
	if a.Config.Description != "" {
		return a.Config.Description
	}
	return truncate(strings.Join(strings.Fields(a.Config.SystemPrompt), " "), 120)
}

// PickName finds which of names a model's answer chose: the earliest whole-word mention.
func PickName(answer string, names []string) string {
	low := strings.ToLower(answer)
	best, at := "", len(low)+1
	for _, n := range names {
		ln := strings.ToLower(n)
		for off := 0; ; {
			i := strings.Index(low[off:], ln)
			if i < 0 {
				break
			}
			i += off
			end := i + len(ln)
			if (i == 0 || !isWordByte(low[i-1])) && (end == len(low) || !isWordByte(low[end])) {
				if i < at || i == at && len(n) > len(best) {
					best, at = n, i
				}
				break
			}
			off = i + 1
		}
	}
	return best
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// Run answers the turn (streaming through onDelta when set), saves the conversation
// and records the run. usage receives the tokens of every model call as they finish.
func (t *ChatTurn) Run(ctx context.Context, onDelta func(string) error, usage func(prompt, completion int)) (ChatResult, error) {
	s, a := t.s, t.agent
	model := a.Config.Model
	if t.req.Model != "" && a.BuiltIn {
		// A request's model applies to built-in agents; a tenant's agent keeps its own.
		model = t.req.Model
	}
	maxTok := t.req.MaxTokens
	if maxTok <= 0 {
		maxTok = a.Config.MaxTokens
	}
	start := s.now().UTC()
	msgs, sources, err := s.prompt(ctx, t.req.TenantID, a, t.conv.Messages, t.turn, t.req.Collections, maxTok)
	var res LoopResult
	if err == nil {
		res, err = RunLoop(ctx, s.model, s.loop, ModelRequest{Model: model, Messages: msgs, MaxTokens: maxTok, TenantID: t.req.TenantID, ToolChoice: a.Config.ToolChoice}, s.agentTools(a), onDelta)
	}
	if usage != nil {
		usage(res.PromptTokens, res.CompletionTokens)
	}
	out := ChatResult{ID: "msg-" + NewID(), Agent: a.Name, ContextID: t.conv.ID, Model: res.Model, Text: res.Text,
		FinishReason: res.FinishReason, PromptTokens: res.PromptTokens + t.routing.PromptTokens,
		CompletionTokens: res.CompletionTokens + t.routing.CompletionTokens, Sources: sources, Steps: res.Steps}
	if out.Sources == nil {
		out.Sources = []Source{}
	}
	if out.Model == "" {
		out.Model = model
	}
	bg := context.WithoutCancel(ctx)
	r := s.turnRun(t, a, start, res, err)
	if err != nil {
		if serr := s.store.AddRun(bg, r); serr != nil {
			s.log.Warn("record agent run", "agent", a.Name, "err", serr)
		}
		return out, err
	}
	// Two turns on one conversation may run at once: each appends its exchange to the
	// conversation as stored now (not as loaded when the turn began), under the
	// conversation's lock, so neither exchange is lost. A conversation deleted while the
	// turn ran stays deleted; the run is still recorded.
	mu := &s.convLocks[convStripe(t.conv.ID)]
	mu.Lock()
	defer mu.Unlock()
	c := t.conv
	if !t.isNew {
		cur, lerr := s.store.Conversation(bg, t.conv.TenantID, t.conv.UserID, t.conv.ID)
		switch {
		case errors.Is(lerr, ErrNotFound):
			if serr := s.store.AddRun(bg, r); serr != nil {
				s.log.Warn("record agent run", "agent", a.Name, "err", serr)
			}
			return out, nil
		case lerr != nil:
			return out, lerr
		}
		c = cur
	}
	c.Agent = a.Name
	c.Messages = append(append(append([]Message{}, c.Messages...), t.turn...), Message{Role: "assistant", Content: res.Text})
	if len(c.Messages) > maxConversationLen {
		c.Messages = c.Messages[len(c.Messages)-maxConversationLen:]
	}
	c.UpdatedAt = s.now().UTC()
	if ts, ok := s.store.(TurnSaver); ok {
		return out, ts.SaveTurn(bg, c, r)
	}
	if serr := s.store.SaveConversation(bg, c); serr != nil {
		return out, serr
	}
	if serr := s.store.AddRun(bg, r); serr != nil {
		s.log.Warn("record agent run", "agent", a.Name, "err", serr)
	}
	return out, nil
}

// turnRun is the run a chat turn records.
func (s *Service) turnRun(t *ChatTurn, a Agent, start time.Time, res LoopResult, err error) Run {
	in, _ := jsonMarshal(map[string]any{"message": t.turn[len(t.turn)-1].Content, "context_id": t.conv.ID})
	r := Run{ID: NewID(), TenantID: t.req.TenantID, AgentID: a.ID, AgentName: a.Name, Input: in, StartedAt: start,
		TokensUsed: int64(res.Tokens()), Steps: res.Steps, Status: "completed"}
	if err != nil {
		msg := err.Error()
		r.Status, r.Error = "failed", &msg
	} else {
		r.Output = map[string]any{"response": res.Text}
	}
	if r.Steps == nil {
		r.Steps = []Step{}
	}
	r.FinishedAt = s.now().UTC()
	r.DurationMS = r.FinishedAt.Sub(start).Milliseconds()
	return r
}

// --- conversations

// Conversations lists a user's conversations, newest first.
func (s *Service) Conversations(ctx context.Context, tenantID, userID string) ([]Conversation, error) {
	return s.store.Conversations(ctx, tenantID, userID)
}

func convNotFound(id string) error { return &NotFoundError{Msg: "Conversation not found: " + id} }

// Conversation returns one conversation with its messages.
func (s *Service) Conversation(ctx context.Context, tenantID, userID, id string) (Conversation, error) {
	c, err := s.store.Conversation(ctx, tenantID, userID, id)
	if errors.Is(err, ErrNotFound) {
		return c, convNotFound(id)
	}
	return c, err
}

// RenameConversation sets a conversation's title.
func (s *Service) RenameConversation(ctx context.Context, tenantID, userID, id, title string) (Conversation, error) {
	title = strings.TrimSpace(title)
	if title == "" {
		return Conversation{}, &InputError{Msg: "title is required"}
	}
	if len(title) > 200 {
		return Conversation{}, &InputError{Msg: "title is longer than 200 bytes"}
	}
	c, err := s.Conversation(ctx, tenantID, userID, id)
	if err != nil {
		return c, err
	}
	c.Title, c.UpdatedAt = title, s.now().UTC()
	return c, s.store.SaveConversation(ctx, c)
}

// DeleteConversation removes a conversation and its messages.
func (s *Service) DeleteConversation(ctx context.Context, tenantID, userID, id string) error {
	err := s.store.DeleteConversation(ctx, tenantID, userID, id)
	if errors.Is(err, ErrNotFound) {
		return convNotFound(id)
	}
	return err
}

// convStripe picks the lock of a conversation id (FNV-1a).
func convStripe(id string) int {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h = (h ^ uint32(id[i])) * 16777619
	}
	return int(h % 64)
}
