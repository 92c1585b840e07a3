package ares

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/aria-node/aria/tenancy"
)

// Wire shapes: the union of the documented fields, so every documented client works.

type tenantJSON struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Tier        string    `json:"tier"`
	ProductType string    `json:"product_type,omitempty"`
	AgentCount  *int      `json:"agent_count,omitempty"`
	KeyCount    *int      `json:"api_key_count,omitempty"`
	TotalRuns   *int64    `json:"total_runs,omitempty"`
	TotalTokens *int64    `json:"total_tokens,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

func toTenant(t tenancy.Tenant) tenantJSON {
	return tenantJSON{ID: t.ID, Name: t.Name, Tier: string(t.Tier), ProductType: t.ProductType, CreatedAt: t.CreatedAt}
}

type keyJSON struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Prefix    string     `json:"prefix"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	LastUsed  *time.Time `json:"last_used"`
	Revoked   bool       `json:"revoked"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toKeys(ks []tenancy.APIKey) []keyJSON {
	out := make([]keyJSON, 0, len(ks))
	for _, k := range ks {
		out = append(out, keyJSON{ID: k.ID, Name: k.Name, Prefix: k.Prefix, CreatedAt: k.CreatedAt,
			ExpiresAt: timePtr(k.ExpiresAt), LastUsed: timePtr(k.LastUsed), Revoked: k.Revoked()})
	}
	return out
}

// createdKeyJSON carries the secret in every documented name: secret (/v1/api-keys),
// raw_key (admin); key is the id as /v1/api-keys documents it.
type createdKeyJSON struct {
	Key       string     `json:"key"`
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Prefix    string     `json:"prefix"`
	Secret    string     `json:"secret"`
	RawKey    string     `json:"raw_key"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
}

func toCreatedKey(k tenancy.APIKey, secret string) createdKeyJSON {
	return createdKeyJSON{Key: k.ID, ID: k.ID, Name: k.Name, Prefix: k.Prefix, Secret: secret, RawKey: secret, CreatedAt: k.CreatedAt, ExpiresAt: timePtr(k.ExpiresAt)}
}

func quota(n int64) *int64 {
	if n == tenancy.Unlimited {
		return nil
	}
	return &n
}

// --- admin: tenants

func (p *Platform) createTenant(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
		Tier string `json:"tier"`
	}
	if !decode(w, r, &req) {
		return
	}
	t, err := p.svc.CreateTenant(r.Context(), "admin", req.Name, req.Tier)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toTenant(t))
}

func (p *Platform) listTenants(w http.ResponseWriter, r *http.Request) {
	ts, err := p.svc.Tenants(r.Context())
	if err != nil {
		p.fail(w, r, err)
		return
	}
	out := make([]tenantJSON, 0, len(ts))
	for _, t := range ts {
		j := toTenant(t.Tenant)
		j.AgentCount = &t.AgentCount
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenants": out})
}

func (p *Platform) tenantError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, tenancy.ErrNotFound) {
		writeARES(w, http.StatusNotFound, "NOT_FOUND", "Tenant not found")
		return
	}
	p.fail(w, r, err)
}

func (p *Platform) getTenant(w http.ResponseWriter, r *http.Request) {
	d, err := p.svc.Tenant(r.Context(), r.PathValue("id"))
	if err != nil {
		p.tenantError(w, r, err)
		return
	}
	j := toTenant(d.Tenant)
	j.AgentCount, j.KeyCount, j.TotalRuns, j.TotalTokens = &d.AgentCount, &d.KeyCount, &d.TotalRuns, &d.TotalTokens
	writeJSON(w, http.StatusOK, j)
}

func (p *Platform) setQuota(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Tier string `json:"tier"`
	}
	if !decode(w, r, &req) {
		return
	}
	t, err := p.svc.SetTier(r.Context(), "admin", r.PathValue("id"), req.Tier)
	if err != nil {
		p.tenantError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toTenant(t))
}

type keyRequest struct {
	Name          string `json:"name"`
	ExpiresInDays int    `json:"expires_in_days"`
}

func (p *Platform) adminCreateKey(w http.ResponseWriter, r *http.Request) {
	var req keyRequest
	if !decode(w, r, &req) {
		return
	}
	k, secret, err := p.svc.CreateKey(r.Context(), "admin", r.PathValue("id"), req.Name, req.ExpiresInDays)
	if err != nil {
		p.tenantError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toCreatedKey(k, secret))
}

func (p *Platform) adminListKeys(w http.ResponseWriter, r *http.Request) {
	ks, err := p.svc.Keys(r.Context(), r.PathValue("id"))
	if err != nil {
		p.tenantError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": toKeys(ks)})
}

func (p *Platform) adminRevokeKey(w http.ResponseWriter, r *http.Request) {
	if err := p.svc.RevokeKey(r.Context(), "admin", r.PathValue("id"), r.PathValue("key")); err != nil {
		if errors.Is(err, tenancy.ErrNotFound) {
			writeARES(w, http.StatusNotFound, "NOT_FOUND", "API key not found")
			return
		}
		p.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (p *Platform) provision(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name        string `json:"name"`
		Tier        string `json:"tier"`
		ProductType string `json:"product_type"`
		APIKeyName  string `json:"api_key_name"`
	}
	if !decode(w, r, &req) {
		return
	}
	res, err := p.svc.Provision(r.Context(), "admin", req.Name, req.Tier, req.ProductType, req.APIKeyName)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	names := make([]string, 0, len(res.Agents))
	for _, a := range res.Agents {
		names = append(names, a.Name)
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"tenant_id": res.Tenant.ID, "tenant_name": res.Tenant.Name, "tier": res.Tenant.Tier, "product_type": res.Tenant.ProductType,
		"api_key_id": res.Key.ID, "api_key_prefix": res.Key.Prefix, "raw_api_key": res.Secret, "agents_created": names,
	})
}

func (p *Platform) templates(w http.ResponseWriter, r *http.Request) {
	pt := r.URL.Query().Get("product_type")
	ts := tenancy.Templates(pt)
	if pt != "" && len(ts) == 0 {
		writeARES(w, http.StatusUnprocessableEntity, "VALIDATION_ERROR", "Invalid product_type: '"+pt+"'. Valid product types: generic, kasino, ehb")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"templates": ts})
}

// --- admin: usage, stats, audit, alerts

type usageJSON struct {
	TenantID      string           `json:"tenant_id,omitempty"`
	TenantName    string           `json:"tenant_name,omitempty"`
	Tier          string           `json:"tier"`
	PeriodStart   time.Time        `json:"period_start"`
	PeriodEnd     time.Time        `json:"period_end"`
	TotalRuns     int64            `json:"total_runs"`
	TotalTokens   int64            `json:"total_tokens"`
	TotalAPICalls int64            `json:"total_api_calls"`
	QuotaRuns     *int64           `json:"quota_runs"`
	QuotaTokens   *int64           `json:"quota_tokens"`
	QuotaDaily    *int64           `json:"quota_daily_runs"`
	DailyUsage    []dailyUsageJSON `json:"daily_usage,omitempty"`
}

type dailyUsageJSON struct {
	Date     string `json:"date"`
	Runs     int64  `json:"runs"`
	Tokens   int64  `json:"tokens"`
	APICalls int64  `json:"api_calls"`
}

func toDaily(ds []tenancy.DailyUsage) []dailyUsageJSON {
	out := make([]dailyUsageJSON, 0, len(ds))
	for _, d := range ds {
		out = append(out, dailyUsageJSON(d))
	}
	return out
}

func toUsage(u tenancy.UsageSummary) usageJSON {
	return usageJSON{Tier: string(u.Tenant.Tier), PeriodStart: u.PeriodStart, PeriodEnd: u.PeriodEnd,
		TotalRuns: u.TotalRuns, TotalTokens: u.TotalTokens, TotalAPICalls: u.TotalAPICalls,
		QuotaRuns: quota(u.Limits.MonthlyRequests), QuotaTokens: quota(u.Limits.MonthlyTokens), QuotaDaily: quota(u.Limits.DailyRequests)}
}

func (p *Platform) adminUsage(w http.ResponseWriter, r *http.Request) {
	u, err := p.svc.Usage(r.Context(), r.PathValue("id"))
	if err != nil {
		p.tenantError(w, r, err)
		return
	}
	j := toUsage(u)
	j.TenantID, j.TenantName = u.Tenant.ID, u.Tenant.Name
	writeJSON(w, http.StatusOK, j)
}

// intParam parses an optional integer query parameter within [lo, hi].
func intParam(w http.ResponseWriter, r *http.Request, name string, def, lo, hi int) (int, bool) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		writeARES(w, http.StatusBadRequest, "BAD_REQUEST", "Invalid "+name+": '"+s+"' (want an integer from "+strconv.Itoa(lo)+" to "+strconv.Itoa(hi)+")")
		return 0, false
	}
	return n, true
}

func (p *Platform) adminDailyUsage(w http.ResponseWriter, r *http.Request) {
	days, ok := intParam(w, r, "days", 30, 1, 366)
	if !ok {
		return
	}
	ds, err := p.svc.DailyUsage(r.Context(), r.PathValue("id"), days)
	if err != nil {
		p.tenantError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"daily": toDaily(ds)})
}

func (p *Platform) stats(w http.ResponseWriter, r *http.Request) {
	st, err := p.svc.Stats(r.Context())
	if err != nil {
		p.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_tenants": st.TotalTenants, "total_agents": st.TotalAgents,
		"total_runs_today": st.TotalRunsToday, "total_tokens_today": st.TotalTokensToday, "active_alerts": st.ActiveAlerts})
}

func (p *Platform) auditLog(w http.ResponseWriter, r *http.Request) {
	limit, ok := intParam(w, r, "limit", 50, 1, 1000)
	if !ok {
		return
	}
	es, err := p.svc.Store().Audit(r.Context(), limit)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if es == nil {
		es = []tenancy.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": es})
}

type alertJSON struct {
	ID         string     `json:"id"`
	Severity   string     `json:"severity"`
	Message    string     `json:"message"`
	TenantID   *string    `json:"tenant_id"`
	CreatedAt  time.Time  `json:"created_at"`
	Resolved   bool       `json:"resolved"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
}

func toAlert(a tenancy.Alert) alertJSON {
	j := alertJSON{ID: a.ID, Severity: a.Severity, Message: a.Message, CreatedAt: a.CreatedAt, Resolved: a.Resolved, ResolvedAt: timePtr(a.ResolvedAt)}
	if a.TenantID != "" {
		j.TenantID = &a.TenantID
	}
	return j
}

func (p *Platform) alerts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := tenancy.AlertFilter{Severity: q.Get("severity")}
	switch f.Severity {
	case "", "info", "warning", "critical":
	default:
		writeARES(w, http.StatusBadRequest, "BAD_REQUEST", "Invalid severity: '"+f.Severity+"' (want info, warning or critical)")
		return
	}
	if s := q.Get("resolved"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			writeARES(w, http.StatusBadRequest, "BAD_REQUEST", "Invalid resolved: '"+s+"' (want true or false)")
			return
		}
		f.Resolved = &b
	}
	var ok bool
	if f.Limit, ok = intParam(w, r, "limit", 100, 1, 1000); !ok {
		return
	}
	as, err := p.svc.Store().Alerts(r.Context(), f)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	out := make([]alertJSON, 0, len(as))
	for _, a := range as {
		out = append(out, toAlert(a))
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": out})
}

func (p *Platform) resolveAlert(w http.ResponseWriter, r *http.Request) {
	a, err := p.svc.ResolveAlert(r.Context(), "admin", r.PathValue("id"))
	if errors.Is(err, tenancy.ErrNotFound) {
		writeARES(w, http.StatusNotFound, "NOT_FOUND", "Alert not found")
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAlert(a))
}

// --- self-service (/v1, the key's tenant only)

func (p *Platform) listKeys(w http.ResponseWriter, r *http.Request) {
	ks, err := p.svc.Keys(r.Context(), principal(r.Context()).TenantID)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": toKeys(ks)})
}

func (p *Platform) createKey(w http.ResponseWriter, r *http.Request) {
	var req keyRequest
	if !decode(w, r, &req) {
		return
	}
	pr := principal(r.Context())
	k, secret, err := p.svc.CreateKey(r.Context(), "key:"+pr.KeyID, pr.TenantID, req.Name, req.ExpiresInDays)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toCreatedKey(k, secret))
}

func (p *Platform) revokeKey(w http.ResponseWriter, r *http.Request) {
	pr := principal(r.Context())
	if err := p.svc.RevokeKey(r.Context(), "key:"+pr.KeyID, pr.TenantID, r.PathValue("id")); err != nil {
		if errors.Is(err, tenancy.ErrNotFound) {
			writeARES(w, http.StatusNotFound, "NOT_FOUND", "API key not found")
			return
		}
		p.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (p *Platform) usage(w http.ResponseWriter, r *http.Request) {
	u, err := p.svc.Usage(r.Context(), principal(r.Context()).TenantID)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	j := toUsage(u)
	j.DailyUsage = toDaily(u.Daily)
	if j.DailyUsage == nil {
		j.DailyUsage = []dailyUsageJSON{}
	}
	writeJSON(w, http.StatusOK, j)
}

// --- users

func (p *Platform) register(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		Name     string `json:"name"`
		TenantID string `json:"tenant_id"`
	}
	if !decode(w, r, &req) {
		return
	}
	// Joining an existing tenant needs proof: that tenant's key, or the admin secret.
	tenantID := ""
	if tok, ok := bearer(r); ok {
		k, err := p.svc.Authenticate(r.Context(), tok, clientIP(r))
		if err != nil {
			p.keyError(w, r, shapeARES, err)
			return
		}
		tenantID = k.TenantID
	} else if req.TenantID != "" {
		s := r.Header.Get("X-Admin-Secret")
		if s == "" || !tenancy.CheckSecret(s, p.cfg.AdminSecret) {
			writeARES(w, http.StatusForbidden, "FORBIDDEN", "Joining a tenant needs that tenant's API key or the admin secret")
			return
		}
		tenantID = req.TenantID
	}
	u, err := p.svc.Register(r.Context(), req.Email, req.Password, req.Name, tenantID)
	if err != nil {
		if errors.Is(err, tenancy.ErrNotFound) {
			writeARES(w, http.StatusNotFound, "NOT_FOUND", "Tenant not found")
			return
		}
		p.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"message": "Registration successful", "user_id": u.ID, "tenant_id": u.TenantID})
}

func (p *Platform) login(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if !decode(w, r, &req) {
		return
	}
	t, err := p.svc.Login(r.Context(), req.Email, req.Password, clientIP(r))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": t.Access, "refresh_token": t.Refresh, "expires_in": t.ExpiresIn, "token_type": "Bearer"})
}

func (p *Platform) refresh(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if !decode(w, r, &req) {
		return
	}
	t, err := p.svc.Refresh(r.Context(), req.RefreshToken)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": t.Access, "refresh_token": t.Refresh, "expires_in": t.ExpiresIn, "token_type": "Bearer"})
}

func (p *Platform) logout(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if !decode(w, r, &req) {
		return
	}
	if err := p.svc.Logout(r.Context(), req.RefreshToken); err != nil {
		p.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"message": "Logged out"})
}

func (p *Platform) me(w http.ResponseWriter, r *http.Request) {
	pr := principal(r.Context())
	out := map[string]any{"tenant_id": pr.TenantID}
	if pr.UserID != "" {
		u, err := p.svc.Store().User(r.Context(), pr.UserID)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		out["user_id"], out["email"], out["name"] = u.ID, u.Email, u.Name
	} else {
		out["key_id"] = pr.KeyID
	}
	writeJSON(w, http.StatusOK, out)
}
