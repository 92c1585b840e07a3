package ares

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/aria-node/aria/agents"
	"github.com/aria-node/aria/tenancy"
)

// Agents, their runs and stats: /v1/agents (a tenant's key), /api/agents (public
// list), /api/user/agents (a user session), /api/admin/tenants/{id}/agents (admin).

// agentConfigJSON is the nested config documented for /v1/agents and the admin API.
type agentConfigJSON struct {
	Model        string       `json:"model"`
	SystemPrompt string       `json:"system_prompt"`
	Tools        []string     `json:"tools"`
	MaxTokens    int          `json:"max_tokens,omitempty"`
	Collections  []string     `json:"collections,omitempty"`
	ToolChoice   string       `json:"tool_choice,omitempty"`
	Toon         *agents.Toon `json:"toon,omitempty"`
}

// agentJSON is the union of the documented agent shapes: flat (/api/agents,
// /api/user/agents, admin list) and nested (/v1/agents).
type agentJSON struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	AgentType    string          `json:"agent_type"`
	Description  string          `json:"description"`
	Status       string          `json:"status"`
	BuiltIn      bool            `json:"built_in"`
	Model        string          `json:"model"`
	SystemPrompt string          `json:"system_prompt"`
	Tools        []string        `json:"tools"`
	Config       agentConfigJSON `json:"config"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    *time.Time      `json:"updated_at,omitempty"`
	LastRun      *time.Time      `json:"last_run"`
	TotalRuns    int64           `json:"total_runs"`
	SuccessRate  float64         `json:"success_rate"`
}

func toAgent(a agents.Agent, st agents.RunStats) agentJSON {
	tools := a.Config.Tools
	if tools == nil {
		tools = []string{}
	}
	return agentJSON{ID: a.ID, Name: a.Name, AgentType: a.AgentType, Description: a.Config.Description, Status: "active", BuiltIn: a.BuiltIn,
		Model: a.Config.Model, SystemPrompt: a.Config.SystemPrompt, Tools: tools,
		Config: agentConfigJSON{Model: a.Config.Model, SystemPrompt: a.Config.SystemPrompt, Tools: tools, MaxTokens: a.Config.MaxTokens,
			Collections: a.Config.Collections, ToolChoice: a.Config.ToolChoice, Toon: a.Config.Toon},
		CreatedAt: a.CreatedAt, UpdatedAt: timePtr(a.UpdatedAt), LastRun: timePtr(st.LastRun),
		TotalRuns: st.TotalRuns, SuccessRate: round3(st.SuccessRate())}
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

// agentBody is a create/update request: the config fields at the top level (flat
// shape) or under "config" (nested shape); pointers tell "given".
type agentBody struct {
	agentHead
	flat agentConfigBody
}

type agentHead struct {
	Name        *string          `json:"name"`
	AgentType   *string          `json:"agent_type"`
	Description *string          `json:"description"`
	Config      *agentConfigBody `json:"config"`
}

// agentConfigBody is the part of an agent's config a request may set.
type agentConfigBody struct {
	Model        *string      `json:"model"`
	SystemPrompt *string      `json:"system_prompt"`
	Tools        *[]string    `json:"tools"`
	MaxTokens    *int         `json:"max_tokens"`
	Collections  *[]string    `json:"collections"`
	ToolChoice   *string      `json:"tool_choice"`
	Toon         *agents.Toon `json:"toon"`
}

// UnmarshalJSON reads the body twice, once for each shape, so the config fields are
// listed once and a wrong type names the field as sent ('tools', 'config.tools').
func (b *agentBody) UnmarshalJSON(data []byte) error {
	if err := json.Unmarshal(data, &b.agentHead); err != nil {
		return err
	}
	return json.Unmarshal(data, &b.flat)
}

// apply sets the given fields on a (nested config wins over flat fields).
func (b agentBody) apply(a *agents.Agent) {
	if b.AgentType != nil {
		a.AgentType = *b.AgentType
	}
	if b.Description != nil {
		a.Config.Description = *b.Description
	}
	b.flat.apply(&a.Config)
	if b.Config != nil {
		b.Config.apply(&a.Config)
	}
}

// systemPromptGiven and toonGiven: the field was given in either shape.
func (b agentBody) systemPromptGiven() bool {
	return b.flat.SystemPrompt != nil || b.Config != nil && b.Config.SystemPrompt != nil
}

func (b agentBody) toonGiven() bool {
	return b.flat.Toon != nil || b.Config != nil && b.Config.Toon != nil
}

func (c agentConfigBody) apply(cfg *agents.Config) {
	setPtr(&cfg.Model, c.Model)
	setPtr(&cfg.SystemPrompt, c.SystemPrompt)
	setPtr(&cfg.ToolChoice, c.ToolChoice)
	setPtr(&cfg.Tools, c.Tools)
	setPtr(&cfg.MaxTokens, c.MaxTokens)
	setPtr(&cfg.Collections, c.Collections)
	if c.Toon != nil {
		cfg.Toon = c.Toon
	}
}

// setPtr sets *dst to *v when v was given.
func setPtr[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// agentFail maps the agents package's errors; others go to fail.
func (p *Platform) agentFail(w http.ResponseWriter, r *http.Request, err error) {
	var nf *agents.NotFoundError
	var ie *agents.InputError
	var ce *agents.CycleError
	switch {
	case errors.As(err, &nf):
		writeARES(w, http.StatusNotFound, "NOT_FOUND", nf.Msg)
	case errors.As(err, &ie):
		writeARES(w, http.StatusBadRequest, "BAD_REQUEST", ie.Msg)
	case errors.As(err, &ce):
		writeARES(w, http.StatusUnprocessableEntity, "WORKFLOW_CYCLE", ce.Error())
	case errors.Is(err, agents.ErrConflict):
		writeARES(w, http.StatusConflict, "CONFLICT", "Agent already exists")
	default:
		if st, code, msg, retry, ok := modelError(err); ok {
			writeJSON(w, st, aresError{Error: msg, Code: code, RetryAfter: retry})
			return
		}
		p.fail(w, r, err)
	}
}

// tenantOf is the calling tenant ("" for the node owner's unauthenticated calls).
func tenantOf(ctx context.Context) (tenantID, userID string) {
	pr, _ := tenancy.PrincipalFrom(ctx)
	return pr.TenantID, pr.UserID
}

// page reads page/per_page (defaults 1 and 20, per_page at most 100).
func page(w http.ResponseWriter, r *http.Request) (int, int, bool) {
	pg, per := 1, 20
	q := r.URL.Query()
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1_000_000 {
			writeARES(w, http.StatusBadRequest, "BAD_REQUEST", "page must be a positive integer")
			return 0, 0, false
		}
		pg = n
	}
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeARES(w, http.StatusBadRequest, "BAD_REQUEST", "per_page must be between 1 and 100")
			return 0, 0, false
		}
		per = n
	}
	return pg, per, true
}

func (p *Platform) agentViews(ctx context.Context, tenantID string, as []agents.Agent) ([]agentJSON, error) {
	out := make([]agentJSON, 0, len(as))
	for _, a := range as {
		st, err := p.ag.Stats(ctx, tenantID, a.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, toAgent(a, st))
	}
	return out, nil
}

// GET /v1/agents: the tenant's agents, then the built-ins, paginated.
func (p *Platform) v1Agents(w http.ResponseWriter, r *http.Request) {
	pg, per, ok := page(w, r)
	if !ok {
		return
	}
	tenant, _ := tenantOf(r.Context())
	as, err := p.ag.Agents(r.Context(), tenant)
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	total := len(as)
	from := min((pg-1)*per, total)
	views, err := p.agentViews(r.Context(), tenant, as[from:min(from+per, total)])
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"agents": views, "total": total, "page": pg, "per_page": per})
}

// GET /v1/agents/{name}
func (p *Platform) v1Agent(w http.ResponseWriter, r *http.Request) {
	tenant, _ := tenantOf(r.Context())
	a, err := p.ag.Agent(r.Context(), tenant, r.PathValue("name"))
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	st, err := p.ag.Stats(r.Context(), tenant, a.Name)
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAgent(a, st))
}

type runJSON struct {
	ID         string          `json:"id"`
	AgentID    string          `json:"agent_id"`
	Agent      string          `json:"agent"`
	Status     string          `json:"status"`
	Input      json.RawMessage `json:"input"`
	Output     any             `json:"output"`
	Error      *string         `json:"error"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt time.Time       `json:"finished_at"`
	DurationMS int64           `json:"duration_ms"`
	TokensUsed int64           `json:"tokens_used"`
	Steps      []agents.Step   `json:"steps"`
}

func toRun(r agents.Run) runJSON {
	in := r.Input
	if len(in) == 0 {
		in = json.RawMessage("null")
	}
	return runJSON{ID: r.ID, AgentID: r.AgentID, Agent: r.AgentName, Status: r.Status, Input: in, Output: r.Output, Error: r.Error,
		StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, DurationMS: r.DurationMS, TokensUsed: r.TokensUsed, Steps: r.Steps}
}

// usageReporter reports a handler's model tokens to the request's meter.
func usageReporter(ctx context.Context) func(int, int) {
	m := requestMeter(ctx)
	return func(prompt, completion int) {
		if m != nil {
			m.AddUsage(prompt, completion)
		}
	}
}

// POST /v1/agents/{name}/run: {"input": {"message", "context"}} (a bare {"message"} too).
func (p *Platform) v1Run(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Input   json.RawMessage `json:"input"`
		Message string          `json:"message"`
		Context map[string]any  `json:"context"`
	}
	if !decode(w, r, &body) {
		return
	}
	in := agents.RunInput{Message: body.Message, Context: body.Context}
	if raw := bytes.TrimSpace(body.Input); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		// The documented {"input": {"message", "context"}}, or a bare string as the message.
		in = agents.RunInput{}
		if raw[0] == '"' {
			if json.Unmarshal(raw, &in.Message) != nil {
				writeARES(w, http.StatusBadRequest, "BAD_REQUEST", "Invalid value for field 'input'")
				return
			}
		} else if raw[0] != '{' || json.Unmarshal(raw, &in) != nil {
			writeARES(w, http.StatusBadRequest, "BAD_REQUEST", `Invalid value for field 'input': expected {"message": "...", "context": {...}} or a string`)
			return
		}
	}
	tenant, _ := tenantOf(r.Context())
	run, err := p.ag.RunAgent(p.modelCtx(r.Context()), tenant, r.PathValue("name"), in, usageReporter(r.Context()))
	if err != nil && run.ID == "" {
		p.agentFail(w, r, err)
		return
	}
	if err != nil {
		p.log.Warn("agent run not recorded", "agent", run.AgentName, "err", err)
	}
	writeJSON(w, http.StatusOK, toRun(run))
}

// GET /v1/agents/{name}/runs
func (p *Platform) v1Runs(w http.ResponseWriter, r *http.Request) {
	pg, per, ok := page(w, r)
	if !ok {
		return
	}
	tenant, _ := tenantOf(r.Context())
	if _, err := p.ag.Agent(r.Context(), tenant, r.PathValue("name")); err != nil {
		p.agentFail(w, r, err)
		return
	}
	runs, total, err := p.ag.Runs(r.Context(), tenant, r.PathValue("name"), (pg-1)*per, per)
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	out := make([]runJSON, 0, len(runs))
	for _, x := range runs {
		out = append(out, toRun(x))
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": out, "total": total, "page": pg, "per_page": per})
}

// GET /api/agents: the platform's agents (public, no tenant's own).
func (p *Platform) publicAgents(w http.ResponseWriter, r *http.Request) {
	out := []agentJSON{}
	for _, a := range p.ag.StaticAgents() {
		out = append(out, toAgent(a, agents.RunStats{}))
	}
	writeJSON(w, http.StatusOK, out)
}

// --- /api/user/agents

func (p *Platform) userAgents(w http.ResponseWriter, r *http.Request) {
	tenant, _ := tenantOf(r.Context())
	as, err := p.ag.TenantAgents(r.Context(), tenant)
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	views, err := p.agentViews(r.Context(), tenant, as)
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, views)
}

func (p *Platform) createAgentFrom(w http.ResponseWriter, r *http.Request, tenant, owner string) {
	var b agentBody
	if !decode(w, r, &b) {
		return
	}
	var a agents.Agent
	if b.Name != nil {
		a.Name = *b.Name
	}
	a.Config.OwnerID = owner
	b.apply(&a)
	got, err := p.ag.CreateAgent(r.Context(), tenant, a)
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toAgent(got, agents.RunStats{}))
}

func (p *Platform) createUserAgent(w http.ResponseWriter, r *http.Request) {
	tenant, user := tenantOf(r.Context())
	p.createAgentFrom(w, r, tenant, user)
}

func (p *Platform) tenantAgent(ctx context.Context, tenant, name string) (agents.Agent, error) {
	if tenant == "" {
		return agents.Agent{}, &agents.NotFoundError{Msg: "Agent not found: " + name}
	}
	a, err := p.ag.TenantAgentByName(ctx, tenant, name)
	return a, err
}

func (p *Platform) getUserAgent(w http.ResponseWriter, r *http.Request) {
	tenant, _ := tenantOf(r.Context())
	a, err := p.tenantAgent(r.Context(), tenant, r.PathValue("name"))
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	st, err := p.ag.Stats(r.Context(), tenant, a.Name)
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAgent(a, st))
}

func (p *Platform) updateAgentIn(w http.ResponseWriter, r *http.Request, tenant string) {
	a, err := p.tenantAgent(r.Context(), tenant, r.PathValue("name"))
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	var b agentBody
	if !decode(w, r, &b) {
		return
	}
	if b.Name != nil && *b.Name != a.Name {
		writeARES(w, http.StatusBadRequest, "BAD_REQUEST", "An agent cannot be renamed; create a new one")
		return
	}
	b.apply(&a)
	if !b.systemPromptGiven() && b.toonGiven() {
		a.Config.SystemPrompt = "" // rebuilt from the new TOON fields
	}
	got, err := p.ag.UpdateAgent(r.Context(), tenant, a)
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	st, _ := p.ag.Stats(r.Context(), tenant, got.Name)
	writeJSON(w, http.StatusOK, toAgent(got, st))
}

func (p *Platform) updateUserAgent(w http.ResponseWriter, r *http.Request) {
	tenant, _ := tenantOf(r.Context())
	p.updateAgentIn(w, r, tenant)
}

func (p *Platform) deleteUserAgent(w http.ResponseWriter, r *http.Request) {
	tenant, _ := tenantOf(r.Context())
	if err := p.ag.DeleteAgent(r.Context(), tenant, r.PathValue("name")); err != nil {
		p.agentFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// POST /api/user/agents/import: a TOON document (or the same as JSON); ?replace=true
// updates agents that exist.
func (p *Platform) importAgents(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, agents.MaxToonBytes))
	if err != nil {
		writeARES(w, http.StatusRequestEntityTooLarge, "BAD_REQUEST", "TOON document too large or unreadable")
		return
	}
	tenant, user := tenantOf(r.Context())
	as, err := p.ag.ImportTOON(r.Context(), tenant, user, body, r.URL.Query().Get("replace") == "true")
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	out := make([]agentJSON, 0, len(as))
	for _, a := range as {
		out = append(out, toAgent(a, agents.RunStats{}))
	}
	writeJSON(w, http.StatusCreated, map[string]any{"imported": len(out), "agents": out})
}

// GET /api/user/agents/{name}/export
func (p *Platform) exportAgent(w http.ResponseWriter, r *http.Request) {
	tenant, _ := tenantOf(r.Context())
	a, err := p.tenantAgent(r.Context(), tenant, r.PathValue("name"))
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/toml; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+a.Name+`.toon"`)
	w.Write(agents.EncodeTOON(a))
}

// --- admin

// adminTenant checks the path's tenant exists.
func (p *Platform) adminTenant(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if _, err := p.svc.Tenant(r.Context(), id); err != nil {
		if errors.Is(err, tenancy.ErrNotFound) {
			writeARES(w, http.StatusNotFound, "NOT_FOUND", "Tenant not found")
		} else {
			p.fail(w, r, err)
		}
		return "", false
	}
	return id, true
}

func (p *Platform) adminAgents(w http.ResponseWriter, r *http.Request) {
	id, ok := p.adminTenant(w, r)
	if !ok {
		return
	}
	as, err := p.ag.TenantAgents(r.Context(), id)
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	views, err := p.agentViews(r.Context(), id, as)
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"agents": views})
}

func (p *Platform) adminCreateAgent(w http.ResponseWriter, r *http.Request) {
	if id, ok := p.adminTenant(w, r); ok {
		p.createAgentFrom(w, r, id, "")
	}
}

func (p *Platform) adminGetAgent(w http.ResponseWriter, r *http.Request) {
	id, ok := p.adminTenant(w, r)
	if !ok {
		return
	}
	a, err := p.tenantAgent(r.Context(), id, r.PathValue("name"))
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	st, _ := p.ag.Stats(r.Context(), id, a.Name)
	writeJSON(w, http.StatusOK, toAgent(a, st))
}

func (p *Platform) adminUpdateAgent(w http.ResponseWriter, r *http.Request) {
	if id, ok := p.adminTenant(w, r); ok {
		p.updateAgentIn(w, r, id)
	}
}

func (p *Platform) adminDeleteAgent(w http.ResponseWriter, r *http.Request) {
	id, ok := p.adminTenant(w, r)
	if !ok {
		return
	}
	if err := p.ag.DeleteAgent(r.Context(), id, r.PathValue("name")); err != nil {
		p.agentFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// GET /api/admin/tenants/{id}/agents/{name}/runs?limit=50
func (p *Platform) adminRuns(w http.ResponseWriter, r *http.Request) {
	id, ok := p.adminTenant(w, r)
	if !ok {
		return
	}
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeARES(w, http.StatusBadRequest, "BAD_REQUEST", "limit must be between 1 and 1000")
			return
		}
		limit = n
	}
	if _, err := p.ag.Agent(r.Context(), id, r.PathValue("name")); err != nil {
		p.agentFail(w, r, err)
		return
	}
	runs, total, err := p.ag.Runs(r.Context(), id, r.PathValue("name"), 0, limit)
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	out := make([]runJSON, 0, len(runs))
	for _, x := range runs {
		out = append(out, toRun(x))
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": out, "total": total})
}

// GET /api/admin/tenants/{id}/agents/{name}/stats
func (p *Platform) adminAgentStats(w http.ResponseWriter, r *http.Request) {
	id, ok := p.adminTenant(w, r)
	if !ok {
		return
	}
	a, err := p.ag.Agent(r.Context(), id, r.PathValue("name"))
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	st, err := p.ag.Stats(r.Context(), id, a.Name)
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	var avgDur, avgTok int64
	if st.TotalRuns > 0 {
		avgDur, avgTok = st.TotalDuration/st.TotalRuns, st.TotalTokens/st.TotalRuns
	}
	writeJSON(w, http.StatusOK, map[string]any{"agent_name": a.Name, "total_runs": st.TotalRuns, "successful_runs": st.SuccessfulRuns,
		"failed_runs": st.FailedRuns, "success_rate": round3(st.SuccessRate()), "avg_duration_ms": avgDur, "avg_tokens": avgTok,
		"last_run": timePtr(st.LastRun)})
}

// GET /api/admin/agents: every tenant's agents.
func (p *Platform) adminAllAgents(w http.ResponseWriter, r *http.Request) {
	as, err := p.ag.AllTenantAgents(r.Context())
	if err != nil {
		p.agentFail(w, r, err)
		return
	}
	type row struct {
		TenantID string `json:"tenant_id"`
		agentJSON
	}
	out := make([]row, 0, len(as))
	for _, a := range as {
		st, err := p.ag.Stats(r.Context(), a.TenantID, a.Name)
		if err != nil {
			p.agentFail(w, r, err)
			return
		}
		out = append(out, row{a.TenantID, toAgent(a, st)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"agents": out, "total": len(out)})
}
