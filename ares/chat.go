package ares

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/aria-node/aria/agents"
	"github.com/aria-node/aria/openai"
	"github.com/aria-node/aria/providers"
)

// ARES chat: /v1/chat and /api/chat (+ /stream), conversations, workflows, research
// and memory.

type aresChatBody struct {
	Message     string           `json:"message"`
	Messages    []agents.Message `json:"messages"`
	AgentType   string           `json:"agent_type"`
	Agent       string           `json:"agent"`
	Model       string           `json:"model"`
	ContextID   string           `json:"context_id"`
	Collections []string         `json:"collections"`
	MaxTokens   int              `json:"max_tokens"`
}

type tokenUsageJSON struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// chatJSON is the union of the documented chat answers.
type chatJSON struct {
	ID           string          `json:"id"`
	Response     string          `json:"response"`
	Content      string          `json:"content"`
	Agent        string          `json:"agent"`
	ContextID    string          `json:"context_id"`
	Model        string          `json:"model"`
	TokensUsed   int             `json:"tokens_used"`
	FinishReason string          `json:"finish_reason"`
	Usage        tokenUsageJSON  `json:"usage"`
	Sources      []agents.Source `json:"sources"`
}

func toChat(r agents.ChatResult) chatJSON {
	return chatJSON{ID: r.ID, Response: r.Text, Content: r.Text, Agent: r.Agent, ContextID: r.ContextID, Model: r.Model,
		TokensUsed: r.Tokens(), FinishReason: r.FinishReason, Sources: r.Sources,
		Usage: tokenUsageJSON{PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens, TotalTokens: r.Tokens()}}
}

// prepareChat decodes a chat body and prepares its turn; false means an error (plain
// JSON) was written.
func (p *Platform) prepareChat(w http.ResponseWriter, r *http.Request) (*agents.ChatTurn, context.Context, func(int, int), bool) {
	var b aresChatBody
	if !decode(w, r, &b) {
		return nil, nil, nil, false
	}
	if b.AgentType == "" {
		b.AgentType = b.Agent
	}
	if b.MaxTokens < 0 || b.MaxTokens > 1<<20 {
		writeARES(w, http.StatusBadRequest, "BAD_REQUEST", "max_tokens must be between 0 and 1048576")
		return nil, nil, nil, false
	}
	ctx := r.Context()
	usage := usageReporter(ctx)
	ctx = p.modelCtx(ctx)
	tenant, user := tenantOf(ctx)
	turn, err := p.ag.PrepareChat(ctx, agents.ChatRequest{TenantID: tenant, UserID: user, Message: b.Message, Messages: b.Messages,
		AgentType: b.AgentType, Model: b.Model, ContextID: b.ContextID, Collections: b.Collections, MaxTokens: b.MaxTokens}, usage)
	if err != nil {
		p.agentFail(w, r, err)
		return nil, nil, nil, false
	}
	return turn, ctx, usage, true
}

// POST /v1/chat, /api/chat
func (p *Platform) chat(w http.ResponseWriter, r *http.Request) {
	turn, ctx, usage, ok := p.prepareChat(w, r)
	if !ok {
		return
	}
	res, err := turn.Run(ctx, nil, usage)
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toChat(res))
}

// sseStream writes ARES's SSE events. The stream (status 200 and headers) starts with
// the first event or keep-alive, so an error before that is still plain JSON.
type sseStream struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
	dead    bool
}

func (s *sseStream) write(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return errors.New("client gone")
	}
	if !s.started {
		s.started = true
		h := s.w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		s.w.WriteHeader(http.StatusOK)
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := s.w.Write(b); err != nil {
		s.dead = true
		return err
	}
	if err := s.rc.Flush(); err != nil {
		s.dead = true
		return err
	}
	return nil
}

func (s *sseStream) event(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.write(append(append([]byte("data: "), b...), '\n', '\n'))
}

func (s *sseStream) isStarted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started
}

type deltaEvent struct {
	Delta        string  `json:"delta"`
	FinishReason *string `json:"finish_reason"`
}

type finalEvent struct {
	chatJSON
	Delta string `json:"delta"`
	Error string `json:"error,omitempty"`
	Code  string `json:"code,omitempty"`
}

// POST /v1/chat/stream, /api/chat/stream
func (p *Platform) chatStream(w http.ResponseWriter, r *http.Request) {
	turn, ctx, usage, ok := p.prepareChat(w, r)
	if !ok {
		return
	}
	s := &sseStream{w: w, rc: http.NewResponseController(w)}
	// Keep-alive comments while the model thinks (or tools run); stopped on return.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(p.keepAlive)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if s.write([]byte(": keep-alive\n\n")) != nil {
					cancel() // the client is gone: stop the turn
					return
				}
			}
		}
	}()
	defer wg.Wait()
	res, err := turn.Run(ctx, func(d string) error {
		if d == "" {
			return nil
		}
		return s.event(deltaEvent{Delta: d})
	}, usage)
	cancel()
	if err != nil {
		if !s.isStarted() {
			p.agentFail(w, r, err)
			return
		}
		code, msg := "STREAM_ERROR", err.Error()
		if _, c, m, _, ok := modelError(err); ok {
			code, msg = c, m
		}
		j := toChat(res)
		j.FinishReason = "error"
		_ = s.event(finalEvent{chatJSON: j, Error: msg, Code: code})
		return
	}
	_ = s.event(finalEvent{chatJSON: toChat(res)})
}

// modelCtx is the context of a handler's model calls. The handler meters the tokens
// itself, so the usage sink is hidden from what runs below (the in-process local
// provider and the registry's upstream hook would count them again). The node owner's
// own calls (no tenant on an open loopback node) are marked as the owner's work.
func (p *Platform) modelCtx(ctx context.Context) context.Context {
	ctx = openai.WithUsageSink(ctx, nil)
	if tenant, _ := tenantOf(ctx); tenant == "" && !p.cfg.Required {
		ctx = providers.WithOwner(ctx)
	}
	return ctx
}

// modelError maps what a model call can fail with to an ARES error answer.
func modelError(err error) (status int, code, msg string, retryAfter int, ok bool) {
	switch {
	case errors.Is(err, agents.ErrAnswerTooLong):
		return http.StatusBadGateway, "UPSTREAM_ERROR", "The model's answer exceeded the size limit", 0, true
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "UPSTREAM_TIMEOUT", "The model did not answer in time", 0, true
	}
	return modelErrorFromProviders(err)
}

// --- conversations

type conversationJSON struct {
	ID        string           `json:"id"`
	ContextID string           `json:"context_id"`
	Title     string           `json:"title"`
	Agent     string           `json:"agent"`
	CreatedAt time.Time        `json:"created_at"`
	UpdatedAt time.Time        `json:"updated_at"`
	Messages  []agents.Message `json:"messages,omitempty"`
}

func toConversation(c agents.Conversation) conversationJSON {
	return conversationJSON{ID: c.ID, ContextID: c.ID, Title: c.Title, Agent: c.Agent, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, Messages: c.Messages}
}

func (p *Platform) listConversations(w http.ResponseWriter, r *http.Request) {
	tenant, user := tenantOf(r.Context())
	cs, err := p.ag.Conversations(r.Context(), tenant, user)
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	out := make([]conversationJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, toConversation(c))
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversations": out, "total": len(out)})
}

func (p *Platform) getConversation(w http.ResponseWriter, r *http.Request) {
	tenant, user := tenantOf(r.Context())
	c, err := p.ag.Conversation(r.Context(), tenant, user, r.PathValue("id"))
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	j := toConversation(c)
	if j.Messages == nil {
		j.Messages = []agents.Message{}
	}
	writeJSON(w, http.StatusOK, j)
}

func (p *Platform) updateConversation(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Title string `json:"title"`
	}
	if !decode(w, r, &b) {
		return
	}
	tenant, user := tenantOf(r.Context())
	c, err := p.ag.RenameConversation(r.Context(), tenant, user, r.PathValue("id"), b.Title)
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toConversation(c))
}

func (p *Platform) deleteConversation(w http.ResponseWriter, r *http.Request) {
	tenant, user := tenantOf(r.Context())
	if err := p.ag.DeleteConversation(r.Context(), tenant, user, r.PathValue("id")); err != nil {
		p.agentFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// --- workflows, research, memory

func (p *Platform) listWorkflows(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, p.ag.Workflows())
}

func (p *Platform) runWorkflow(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Query   string         `json:"query"`
		Context map[string]any `json:"context"`
	}
	if !decode(w, r, &b) {
		return
	}
	tenant, _ := tenantOf(r.Context())
	ctx := p.modelCtx(r.Context())
	res, err := p.ag.RunWorkflow(ctx, tenant, r.PathValue("name"), b.Query, b.Context, usageReporter(r.Context()))
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (p *Platform) research(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Query         string `json:"query"`
		Depth         int    `json:"depth"`
		MaxIterations int    `json:"max_iterations"`
	}
	if !decode(w, r, &b) {
		return
	}
	tenant, _ := tenantOf(r.Context())
	ctx := p.modelCtx(r.Context())
	res, err := p.ag.Research(ctx, tenant, agents.ResearchRequest{Query: b.Query, Depth: b.Depth, MaxIterations: b.MaxIterations}, usageReporter(r.Context()))
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	if res.Sources == nil {
		res.Sources = []string{}
	}
	writeJSON(w, http.StatusOK, res)
}

func (p *Platform) memory(w http.ResponseWriter, r *http.Request) {
	tenant, user := tenantOf(r.Context())
	m, err := p.ag.Memory(r.Context(), tenant, user)
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}
