package tenancy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Options configure a Service.
type Options struct {
	Now        func() time.Time // default time.Now
	Logger     *slog.Logger
	JWTSecret  []byte // >= 32 bytes for users; nil disables login
	BcryptCost int    // default bcrypt.DefaultCost
	// AuthFailures failed authentications from one address within AuthFailureWindow
	// raise an alert (defaults 10 and 5 minutes).
	AuthFailures      int
	AuthFailureWindow time.Duration
}

// Service is the platform's access logic over a Store.
type Service struct {
	store Store
	opt   Options
	log   *slog.Logger

	mu       sync.Mutex
	failures map[string][]time.Time // by client address
	dummy    []byte                 // bcrypt hash compared when an email is unknown
}

// NewService wraps store.
func NewService(store Store, opt Options) *Service {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.BcryptCost == 0 {
		opt.BcryptCost = bcrypt.DefaultCost
	}
	if opt.AuthFailures == 0 {
		opt.AuthFailures = 10
	}
	if opt.AuthFailureWindow == 0 {
		opt.AuthFailureWindow = 5 * time.Minute
	}
	s := &Service{store: store, opt: opt, log: opt.Logger, failures: map[string][]time.Time{}}
	s.dummy, _ = bcrypt.GenerateFromPassword([]byte(randomToken(12)), opt.BcryptCost)
	return s
}

// Store is the service's store.
func (s *Service) Store() Store { return s.store }

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.opt.Now().UTC() }

func missing(field string) error {
	return &ValidationError{Msg: "Missing required field: " + field, BadRequest: true}
}

func (s *Service) audit(ctx context.Context, actor, action string, details map[string]any) {
	e := AuditEntry{ID: NewID(), Action: action, Actor: actor, Details: details, Timestamp: s.Now()}
	if err := s.store.AddAudit(ctx, e); err != nil {
		s.log.Error("audit log write failed", "action", action, "err", err)
	}
}

func (s *Service) newTenant(name, tier, productType string) (Tenant, error) {
	if name == "" {
		return Tenant{}, missing("name")
	}
	if !ValidName(name) {
		return Tenant{}, &ValidationError{Msg: fmt.Sprintf("Invalid tenant name: '%s'. Use lowercase letters, digits and hyphens", name)}
	}
	if tier == "" {
		tier = string(TierFree)
	}
	t, err := ParseTier(tier)
	if err != nil {
		return Tenant{}, err
	}
	return Tenant{ID: NewID(), Name: name, Tier: t, ProductType: productType, CreatedAt: s.Now()}, nil
}

// CreateTenant creates a tenant (tier defaults to free).
func (s *Service) CreateTenant(ctx context.Context, actor, name, tier string) (Tenant, error) {
	t, err := s.newTenant(name, tier, "")
	if err != nil {
		return Tenant{}, err
	}
	if err := s.store.CreateTenant(ctx, t); err != nil {
		return Tenant{}, err
	}
	s.audit(ctx, actor, "tenant.created", map[string]any{"tenant_id": t.ID, "tenant_name": t.Name, "tier": string(t.Tier)})
	return t, nil
}

// TenantDetails is a tenant with its counts.
type TenantDetails struct {
	Tenant
	AgentCount  int
	KeyCount    int
	TotalRuns   int64
	TotalTokens int64
}

// Tenant returns a tenant with its key and agent counts and all-time usage.
func (s *Service) Tenant(ctx context.Context, id string) (TenantDetails, error) {
	t, err := s.store.Tenant(ctx, id)
	if err != nil {
		return TenantDetails{}, err
	}
	d := TenantDetails{Tenant: t}
	agents, err := s.store.Agents(ctx, id)
	if err != nil {
		return d, err
	}
	keys, err := s.store.Keys(ctx, id)
	if err != nil {
		return d, err
	}
	for _, k := range keys {
		if !k.Revoked() {
			d.KeyCount++
		}
	}
	tot, err := s.store.TotalUsage(ctx, id)
	if err != nil {
		return d, err
	}
	d.AgentCount, d.TotalRuns, d.TotalTokens = len(agents), tot.Runs, tot.Tokens
	return d, nil
}

// Tenants lists tenants with their agent counts.
func (s *Service) Tenants(ctx context.Context) ([]TenantDetails, error) {
	ts, err := s.store.Tenants(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]TenantDetails, 0, len(ts))
	for _, t := range ts {
		agents, err := s.store.Agents(ctx, t.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, TenantDetails{Tenant: t, AgentCount: len(agents)})
	}
	return out, nil
}

// SetTier changes a tenant's tier; it applies to the next admission.
func (s *Service) SetTier(ctx context.Context, actor, id, tier string) (Tenant, error) {
	if tier == "" {
		return Tenant{}, missing("tier")
	}
	tr, err := ParseTier(tier)
	if err != nil {
		return Tenant{}, err
	}
	old, err := s.store.Tenant(ctx, id)
	if err != nil {
		return Tenant{}, err
	}
	t, err := s.store.SetTier(ctx, id, tr)
	if err != nil {
		return Tenant{}, err
	}
	s.audit(ctx, actor, "tenant.quota_updated", map[string]any{"tenant_id": id, "tenant_name": t.Name, "old_tier": string(old.Tier), "tier": string(tr)})
	return t, nil
}

func (s *Service) newKey(tenantID, name string, expiresInDays int) (APIKey, string, error) {
	if name == "" {
		return APIKey{}, "", missing("name")
	}
	if len(name) > 128 {
		return APIKey{}, "", &ValidationError{Msg: "Key name is longer than 128 characters"}
	}
	if expiresInDays < 0 || expiresInDays > 3650 {
		return APIKey{}, "", &ValidationError{Msg: fmt.Sprintf("Invalid expires_in_days: %d (want 1-3650, or omit it for a key that does not expire)", expiresInDays)}
	}
	secret := NewKeySecret()
	now := s.Now()
	k := APIKey{ID: NewID(), TenantID: tenantID, Name: name, Prefix: keyDisplayPrefix(secret), Hash: HashSecret(secret), CreatedAt: now}
	if expiresInDays > 0 {
		k.ExpiresAt = now.Add(time.Duration(expiresInDays) * 24 * time.Hour)
	}
	return k, secret, nil
}

// CreateKey makes a key for a tenant; the secret is returned only here.
func (s *Service) CreateKey(ctx context.Context, actor, tenantID, name string, expiresInDays int) (APIKey, string, error) {
	k, secret, err := s.newKey(tenantID, name, expiresInDays)
	if err != nil {
		return APIKey{}, "", err
	}
	if err := s.store.CreateKey(ctx, k); err != nil {
		return APIKey{}, "", err
	}
	s.audit(ctx, actor, "api_key.created", map[string]any{"tenant_id": tenantID, "key_id": k.ID, "name": name, "prefix": k.Prefix})
	return k, secret, nil
}

// Keys lists a tenant's keys (ErrNotFound for an unknown tenant).
func (s *Service) Keys(ctx context.Context, tenantID string) ([]APIKey, error) {
	if _, err := s.store.Tenant(ctx, tenantID); err != nil {
		return nil, err
	}
	return s.store.Keys(ctx, tenantID)
}

// RevokeKey revokes one of the tenant's keys at once.
func (s *Service) RevokeKey(ctx context.Context, actor, tenantID, keyID string) error {
	if err := s.store.RevokeKey(ctx, tenantID, keyID, s.Now()); err != nil {
		return err
	}
	s.audit(ctx, actor, "api_key.revoked", map[string]any{"tenant_id": tenantID, "key_id": keyID})
	return nil
}

// Provisioned is the result of Provision.
type Provisioned struct {
	Tenant Tenant
	Key    APIKey
	Secret string
	Agents []Agent
}

// Provision creates a tenant, clones its product type's templates and makes a key, all
// or nothing.
func (s *Service) Provision(ctx context.Context, actor, name, tier, productType, keyName string) (Provisioned, error) {
	switch {
	case name == "":
		return Provisioned{}, missing("name")
	case tier == "":
		return Provisioned{}, missing("tier")
	case productType == "":
		return Provisioned{}, missing("product_type")
	case keyName == "":
		return Provisioned{}, missing("api_key_name")
	}
	tpls := Templates(productType)
	if len(tpls) == 0 {
		return Provisioned{}, &ValidationError{Msg: fmt.Sprintf("Invalid product_type: '%s'. Valid product types: %s", productType, strings.Join(ProductTypes, ", "))}
	}
	t, err := s.newTenant(name, tier, productType)
	if err != nil {
		return Provisioned{}, err
	}
	k, secret, err := s.newKey(t.ID, keyName, 0)
	if err != nil {
		return Provisioned{}, err
	}
	agents := make([]Agent, 0, len(tpls))
	for _, tp := range tpls {
		agents = append(agents, Agent{ID: NewID(), TenantID: t.ID, Name: tp.Name, AgentType: tp.AgentType, Config: tp.Config, CreatedAt: t.CreatedAt})
	}
	if err := s.store.Provision(ctx, t, k, agents); err != nil {
		return Provisioned{}, err
	}
	s.audit(ctx, actor, "tenant.provisioned", map[string]any{"tenant_id": t.ID, "tenant_name": t.Name, "tier": string(t.Tier),
		"product_type": productType, "key_id": k.ID, "agents": len(agents)})
	return Provisioned{Tenant: t, Key: k, Secret: secret, Agents: agents}, nil
}

// Agents lists a tenant's agents.
func (s *Service) Agents(ctx context.Context, tenantID string) ([]Agent, error) {
	return s.store.Agents(ctx, tenantID)
}

// Authenticate checks a presented API key. from is the client's address, counted
// towards the repeated-failure alert when the key is wrong.
func (s *Service) Authenticate(ctx context.Context, secret, from string) (APIKey, error) {
	k, err := s.authenticate(ctx, secret)
	if errors.Is(err, ErrInvalidKey) || errors.Is(err, ErrExpiredKey) {
		s.AuthFailed(ctx, from)
	}
	return k, err
}

func (s *Service) authenticate(ctx context.Context, secret string) (APIKey, error) {
	if !strings.HasPrefix(secret, KeyPrefix) || len(secret) > 256 {
		return APIKey{}, ErrInvalidKey
	}
	h := HashSecret(secret)
	k, err := s.store.KeyByHash(ctx, h)
	if errors.Is(err, ErrNotFound) {
		return APIKey{}, ErrInvalidKey
	}
	if err != nil {
		return APIKey{}, err
	}
	if !sameHash(k.Hash, h) || k.Revoked() {
		return APIKey{}, ErrInvalidKey
	}
	now := s.Now()
	if !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
		return APIKey{}, ErrExpiredKey
	}
	// last_used to the minute: a write per request would serialise every call.
	if now.Sub(k.LastUsed) >= time.Minute {
		if err := s.store.TouchKey(ctx, k.ID, now); err != nil {
			s.log.Warn("api key last_used not updated", "key_id", k.ID, "err", err)
		}
		k.LastUsed = now
	}
	return k, nil
}

// AuthFailed counts a failed authentication from an address and raises an alert when
// they repeat.
func (s *Service) AuthFailed(ctx context.Context, from string) {
	if from == "" {
		return
	}
	now := s.Now()
	s.mu.Lock()
	if len(s.failures) > 10_000 { // bounded: drop the oldest window entirely
		clear(s.failures)
	}
	list := s.failures[from]
	keep := list[:0]
	for _, t := range list {
		if now.Sub(t) < s.opt.AuthFailureWindow {
			keep = append(keep, t)
		}
	}
	keep = append(keep, now)
	s.failures[from] = keep
	n := len(keep)
	s.mu.Unlock()
	if n < s.opt.AuthFailures {
		return
	}
	a := Alert{ID: NewID(), Kind: "auth_failures:" + from + ":" + now.Format("2006-01-02T15"), Severity: "warning",
		Message:   fmt.Sprintf("Repeated authentication failures from %s (%d in %s)", from, n, s.opt.AuthFailureWindow),
		CreatedAt: now}
	if _, err := s.store.RaiseAlert(ctx, a); err != nil {
		s.log.Error("alert not stored", "err", err)
	}
}

// QuotaError refuses a request: the documented message and when to retry.
type QuotaError struct {
	Message    string
	RetryAfter time.Duration
	Limits     Limits
	Counters   Counters
	Reset      time.Time
}

func (e *QuotaError) Error() string { return e.Message }

// Admission messages, as documented.
const (
	MsgDaily         = "Daily request limit reached for your tier"
	MsgMonthRequests = "Monthly request quota exceeded"
	MsgMonthTokens   = "Monthly token quota exceeded"
	MsgIPRate        = "Rate limit exceeded"
)

// Ticket is an admitted request; Settle closes it with the tokens it used.
type Ticket struct {
	s        *Service
	Tenant   Tenant
	KeyID    string
	Limits   Limits
	Counters Counters // after this admission
	Day      string
	Month    string
	At       time.Time
	idem     string
	counted  bool
	once     sync.Once
}

// Admit reserves one request for the tenant: the daily and monthly request counts and
// the monthly tokens must have room. counted false records an api call only (usage and
// key listings), never refused.
func (s *Service) Admit(ctx context.Context, tenantID, keyID, idempotencyKey string, counted bool) (*Ticket, error) {
	now := s.Now()
	if len(idempotencyKey) > 255 {
		idempotencyKey = idempotencyKey[:255]
	}
	r := Reservation{TenantID: tenantID, KeyID: keyID, Day: Day(now), Month: Month(now), IdempotencyKey: idempotencyKey, Counted: counted, At: now}
	if !counted {
		r.IdempotencyKey = ""
	}
	t, c, err := s.store.Reserve(ctx, r, func(t Tenant, c Counters) error {
		if !counted || c.Replay {
			return nil
		}
		l := t.Tier.Limits()
		qe := &QuotaError{Limits: l, Counters: c}
		switch {
		case l.MonthlyRequests != Unlimited && c.MonthRuns >= l.MonthlyRequests:
			qe.Message, qe.Reset = MsgMonthRequests, NextMonth(now)
		case l.MonthlyTokens != Unlimited && c.MonthTokens >= l.MonthlyTokens:
			qe.Message, qe.Reset = MsgMonthTokens, NextMonth(now)
		case l.DailyRequests != Unlimited && c.DayRuns >= l.DailyRequests:
			qe.Message, qe.Reset = MsgDaily, NextDay(now)
		default:
			return nil
		}
		qe.RetryAfter = qe.Reset.Sub(now)
		return qe
	})
	if err != nil {
		return nil, err
	}
	tk := &Ticket{s: s, Tenant: t, KeyID: keyID, Limits: t.Tier.Limits(), Counters: c, Day: r.Day, Month: r.Month, At: now, idem: r.IdempotencyKey, counted: counted}
	if counted && !c.Replay {
		tk.Counters.DayRuns++
		tk.Counters.MonthRuns++
		s.checkQuotaAlerts(ctx, t, tk.Counters, r.Month)
	}
	return tk, nil
}

// Settle records the tokens the request consumed. failed with no tokens gives the
// request back. Settle runs once; later calls do nothing. It uses its own context so a
// client that went away is still billed.
func (tk *Ticket) Settle(tokens int64, failed bool) error {
	var err error
	tk.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		refund := failed && tokens == 0 && tk.counted && !tk.Counters.Replay
		if tokens == 0 && !refund {
			return
		}
		var c Counters
		c, err = tk.s.store.Settle(ctx, Settlement{TenantID: tk.Tenant.ID, Day: tk.Day, Month: tk.Month, Tokens: tokens, Refund: refund, IdempotencyKey: tk.idem})
		if err != nil {
			tk.s.log.Error("usage not recorded", "tenant_id", tk.Tenant.ID, "tokens", tokens, "err", err)
			return
		}
		tk.s.checkQuotaAlerts(ctx, tk.Tenant, c, tk.Month)
	})
	return err
}

func (s *Service) checkQuotaAlerts(ctx context.Context, t Tenant, c Counters, month string) {
	l := t.Tier.Limits()
	check := func(what string, used, quota int64) {
		if quota == Unlimited || quota == 0 {
			return
		}
		pct := used * 100 / quota
		for _, th := range []struct {
			pct      int64
			severity string
		}{{90, "critical"}, {80, "warning"}} {
			if pct < th.pct {
				continue
			}
			a := Alert{ID: NewID(), Kind: fmt.Sprintf("quota:%s:%s:%s:%d", t.ID, month, what, th.pct), Severity: th.severity,
				Message:  fmt.Sprintf("Tenant %s approaching %s quota (%d%%)", t.Name, what, pct),
				TenantID: t.ID, CreatedAt: s.Now()}
			if _, err := s.store.RaiseAlert(ctx, a); err != nil {
				s.log.Error("alert not stored", "err", err)
			}
			return
		}
	}
	check("request", c.MonthRuns, l.MonthlyRequests)
	check("token", c.MonthTokens, l.MonthlyTokens)
}

// UsageSummary is a tenant's current calendar month.
type UsageSummary struct {
	Tenant        Tenant
	PeriodStart   time.Time
	PeriodEnd     time.Time
	TotalRuns     int64
	TotalTokens   int64
	TotalAPICalls int64
	Limits        Limits
	Daily         []DailyUsage
}

// Usage summarises the tenant's current month.
func (s *Service) Usage(ctx context.Context, tenantID string) (UsageSummary, error) {
	t, err := s.store.Tenant(ctx, tenantID)
	if err != nil {
		return UsageSummary{}, err
	}
	now := s.Now()
	start := monthStart(now)
	days, err := s.store.Usage(ctx, tenantID, Day(start), Day(now))
	if err != nil {
		return UsageSummary{}, err
	}
	u := UsageSummary{Tenant: t, PeriodStart: start, PeriodEnd: NextMonth(now).Add(-time.Second), Limits: t.Tier.Limits(), Daily: days}
	for _, d := range days {
		u.TotalRuns += d.Runs
		u.TotalTokens += d.Tokens
		u.TotalAPICalls += d.APICalls
	}
	return u, nil
}

// DailyUsage lists the tenant's last days (today included), newest first.
func (s *Service) DailyUsage(ctx context.Context, tenantID string, days int) ([]DailyUsage, error) {
	if _, err := s.store.Tenant(ctx, tenantID); err != nil {
		return nil, err
	}
	now := s.Now()
	return s.store.Usage(ctx, tenantID, Day(now.AddDate(0, 0, -(days-1))), Day(now))
}

// Stats are the platform's totals today.
type Stats struct {
	TotalTenants     int
	TotalAgents      int
	TotalRunsToday   int64
	TotalTokensToday int64
	ActiveAlerts     int
}

// Stats reports the platform's totals.
func (s *Service) Stats(ctx context.Context) (Stats, error) {
	ts, err := s.store.Tenants(ctx)
	if err != nil {
		return Stats{}, err
	}
	agents, err := s.store.AgentCount(ctx)
	if err != nil {
		return Stats{}, err
	}
	day, err := s.store.DayTotals(ctx, Day(s.Now()))
	if err != nil {
		return Stats{}, err
	}
	f := false
	alerts, err := s.store.Alerts(ctx, AlertFilter{Resolved: &f})
	if err != nil {
		return Stats{}, err
	}
	return Stats{TotalTenants: len(ts), TotalAgents: agents, TotalRunsToday: day.Runs, TotalTokensToday: day.Tokens, ActiveAlerts: len(alerts)}, nil
}

// ResolveAlert marks an alert resolved.
func (s *Service) ResolveAlert(ctx context.Context, actor, id string) (Alert, error) {
	a, err := s.store.ResolveAlert(ctx, id, s.Now())
	if err != nil {
		return Alert{}, err
	}
	s.audit(ctx, actor, "alert.resolved", map[string]any{"alert_id": id})
	return a, nil
}

// Register creates a user. With tenantID the user joins that tenant (the caller has
// proved it may), else a new free-tier tenant is made for the user.
func (s *Service) Register(ctx context.Context, email, password, name, tenantID string) (User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	switch {
	case email == "":
		return User{}, missing("email")
	case password == "":
		return User{}, missing("password")
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
		return User{}, &ValidationError{Msg: "Invalid email address"}
	}
	if len(password) < 8 || len(password) > 72 {
		return User{}, &ValidationError{Msg: "Password must be 8 to 72 characters"}
	}
	if _, err := s.store.UserByEmail(ctx, email); err == nil {
		return User{}, fmt.Errorf("email %s: %w", email, ErrConflict)
	} else if !errors.Is(err, ErrNotFound) {
		return User{}, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.opt.BcryptCost)
	if err != nil {
		return User{}, err
	}
	u := User{ID: "usr_" + strings.ReplaceAll(NewID(), "-", ""), Email: email, Name: name, PasswordHash: hash, CreatedAt: s.Now()}
	if tenantID == "" {
		t := Tenant{ID: NewID(), Name: "user-" + u.ID[4:16], Tier: TierFree, CreatedAt: u.CreatedAt}
		if err := s.store.CreateTenant(ctx, t); err != nil {
			return User{}, err
		}
		tenantID = t.ID
	}
	u.TenantID = tenantID
	if err := s.store.CreateUser(ctx, u); err != nil {
		return User{}, err
	}
	s.audit(ctx, "user:"+u.ID, "user.registered", map[string]any{"user_id": u.ID, "email": email, "tenant_id": tenantID})
	return u, nil
}

// Tokens are a login's or refresh's result.
type Tokens struct {
	Access    string
	Refresh   string
	ExpiresIn int
}

func (s *Service) issue(ctx context.Context, u User) (Tokens, RefreshToken, error) {
	if len(s.opt.JWTSecret) < 32 {
		return Tokens{}, RefreshToken{}, errors.New("no JWT secret configured")
	}
	now := s.Now()
	access := SignJWT(s.opt.JWTSecret, Claims{Subject: u.ID, TenantID: u.TenantID, IssuedAt: now.Unix(), Expires: now.Add(AccessTTL).Unix(), Type: "access"})
	rt := "rt_" + randomToken(32)
	return Tokens{Access: access, Refresh: rt, ExpiresIn: int(AccessTTL / time.Second)},
		RefreshToken{Hash: HashSecret(rt), UserID: u.ID, ExpiresAt: now.Add(RefreshTTL)}, nil
}

// Login checks a password and issues tokens.
func (s *Service) Login(ctx context.Context, email, password, from string) (Tokens, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		return Tokens{}, missing("email")
	}
	if password == "" {
		return Tokens{}, missing("password")
	}
	u, err := s.store.UserByEmail(ctx, email)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Tokens{}, err
	}
	hash := u.PasswordHash
	if err != nil {
		hash = s.dummy // same work whether or not the email exists
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || err != nil {
		s.AuthFailed(ctx, from)
		return Tokens{}, ErrBadLogin
	}
	tok, rt, err := s.issue(ctx, u)
	if err != nil {
		return Tokens{}, err
	}
	if err := s.store.SaveRefresh(ctx, rt); err != nil {
		return Tokens{}, err
	}
	return tok, nil
}

// Refresh exchanges a live refresh token for new tokens; the old one stops working.
func (s *Service) Refresh(ctx context.Context, refresh string) (Tokens, error) {
	if refresh == "" {
		return Tokens{}, missing("refresh_token")
	}
	rt := "rt_" + randomToken(32)
	next := RefreshToken{Hash: HashSecret(rt), ExpiresAt: s.Now().Add(RefreshTTL)}
	userID, err := s.store.RotateRefresh(ctx, HashSecret(refresh), next, s.Now())
	if err != nil {
		return Tokens{}, err
	}
	u, err := s.store.User(ctx, userID)
	if err != nil {
		return Tokens{}, ErrInvalidToken
	}
	now := s.Now()
	if len(s.opt.JWTSecret) < 32 {
		return Tokens{}, errors.New("no JWT secret configured")
	}
	access := SignJWT(s.opt.JWTSecret, Claims{Subject: u.ID, TenantID: u.TenantID, IssuedAt: now.Unix(), Expires: now.Add(AccessTTL).Unix(), Type: "access"})
	return Tokens{Access: access, Refresh: rt, ExpiresIn: int(AccessTTL / time.Second)}, nil
}

// Logout revokes a refresh token.
func (s *Service) Logout(ctx context.Context, refresh string) error {
	if refresh == "" {
		return missing("refresh_token")
	}
	return s.store.RevokeRefresh(ctx, HashSecret(refresh))
}

// VerifyAccess checks an access token and that its user still exists.
func (s *Service) VerifyAccess(ctx context.Context, token string) (User, error) {
	if len(s.opt.JWTSecret) < 32 {
		return User{}, ErrInvalidToken
	}
	c, err := VerifyJWT(s.opt.JWTSecret, token, s.Now())
	if err != nil {
		return User{}, err
	}
	u, err := s.store.User(ctx, c.Subject)
	if errors.Is(err, ErrNotFound) {
		return User{}, ErrInvalidToken
	}
	return u, err
}
