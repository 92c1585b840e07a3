// Package tenancy owns the ARES platform's access domain: tenants, API keys, users and
// their tokens, tier quotas, exact usage metering, the audit log and alerts.
package tenancy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors callers act on; the HTTP layer maps them to statuses in one place.
var (
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("already exists")
	ErrInvalidKey   = errors.New("Invalid API key")
	ErrExpiredKey   = errors.New("API key expired")
	ErrInvalidToken = errors.New("Invalid or expired token")
	ErrBadLogin     = errors.New("Invalid email or password")
	ErrUnavailable  = errors.New("platform database unavailable")
)

// Tier names a tenant's plan.
type Tier string

const (
	TierFree       Tier = "free"
	TierDev        Tier = "dev"
	TierPro        Tier = "pro"
	TierEnterprise Tier = "enterprise"
)

// Unlimited marks a limit that does not apply.
const Unlimited int64 = -1

// Limits are a tier's quotas: requests and tokens per calendar month (UTC), requests per UTC day.
type Limits struct {
	MonthlyRequests int64
	MonthlyTokens   int64
	DailyRequests   int64
}

var tierLimits = map[Tier]Limits{
	TierFree:       {1_000, 100_000, 100},
	TierDev:        {10_000, 1_000_000, 1_000},
	TierPro:        {100_000, 10_000_000, 10_000},
	TierEnterprise: {Unlimited, Unlimited, Unlimited},
}

// Limits reports the tier's quotas (an unknown tier gets the free tier's).
func (t Tier) Limits() Limits {
	if l, ok := tierLimits[t]; ok {
		return l
	}
	return tierLimits[TierFree]
}

// ParseTier accepts exactly the documented tier names.
func ParseTier(s string) (Tier, error) {
	t := Tier(s)
	if _, ok := tierLimits[t]; !ok {
		return "", &ValidationError{Msg: fmt.Sprintf("Invalid tier: '%s'. Valid tiers: free, dev, pro, enterprise", s)}
	}
	return t, nil
}

// ValidationError is a well-formed request with an unacceptable value (HTTP 422).
type ValidationError struct {
	Msg        string
	BadRequest bool // a missing field (400) rather than a bad value (422)
}

func (e *ValidationError) Error() string { return e.Msg }

// Tenant is an isolated namespace: its keys, users, agents and usage.
type Tenant struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Tier        Tier      `json:"tier"`
	ProductType string    `json:"product_type,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// APIKey is a tenant's key. Only the SHA-256 of the secret is stored.
type APIKey struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	Name      string    `json:"name"`
	Prefix    string    `json:"prefix"`
	Hash      []byte    `json:"hash"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	LastUsed  time.Time `json:"last_used,omitzero"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Revoked reports whether the key was revoked.
func (k APIKey) Revoked() bool { return !k.RevokedAt.IsZero() }

// User is a person who logs in with a password; a user belongs to one tenant.
type User struct {
	ID           string    `json:"id"`
	TenantID     string    `json:"tenant_id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	PasswordHash []byte    `json:"password_hash"`
	CreatedAt    time.Time `json:"created_at"`
}

// RefreshToken is stored by the SHA-256 of its secret; it is used once, then rotated.
type RefreshToken struct {
	Hash      []byte    `json:"hash"`
	UserID    string    `json:"user_id"`
	ExpiresAt time.Time `json:"expires_at"`
	Revoked   bool      `json:"revoked"`
}

// Agent is a tenant's agent configuration as provisioning creates it.
type Agent struct {
	ID        string      `json:"id"`
	TenantID  string      `json:"tenant_id"`
	Name      string      `json:"name"`
	AgentType string      `json:"agent_type"`
	Config    AgentConfig `json:"config"`
	CreatedAt time.Time   `json:"created_at"`
}

// AgentConfig is an agent's model and behaviour.
type AgentConfig struct {
	Model        string   `json:"model"`
	SystemPrompt string   `json:"system_prompt"`
	Tools        []string `json:"tools"`
	MaxTokens    int      `json:"max_tokens,omitempty"`
}

// DailyUsage is one tenant's usage on one UTC day. Runs are admitted requests (what the
// request quotas count), APICalls every authenticated /v1 call (refused ones included).
type DailyUsage struct {
	Date     string `json:"date"`
	Runs     int64  `json:"runs"`
	Tokens   int64  `json:"tokens"`
	APICalls int64  `json:"api_calls"`
}

// AuditEntry records a change to tenants, keys, quotas or users: who and when.
type AuditEntry struct {
	ID        string         `json:"id"`
	Action    string         `json:"action"`
	Actor     string         `json:"actor"`
	Details   map[string]any `json:"details"`
	Timestamp time.Time      `json:"timestamp"`
}

// Alert is raised for an operator (quota thresholds, repeated auth failures). Kind
// de-duplicates: one alert per kind.
type Alert struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	Severity   string    `json:"severity"`
	Message    string    `json:"message"`
	TenantID   string    `json:"tenant_id,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	Resolved   bool      `json:"resolved"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
}

// AlertFilter selects alerts; empty fields match all.
type AlertFilter struct {
	Severity string
	Resolved *bool
	Limit    int
}

// Counters are a tenant's usage at admission, read inside the admission transaction.
type Counters struct {
	DayRuns     int64
	MonthRuns   int64
	MonthTokens int64
	// Replay is set when the request's idempotency key was already billed.
	Replay bool
}

// Reservation is one admission: the request is counted before its work starts.
type Reservation struct {
	TenantID       string
	KeyID          string
	Day            string // 2006-01-02 (UTC)
	Month          string // 2006-01
	IdempotencyKey string // "" for none
	Counted        bool   // false: an api call only (never refused, not a run)
	At             time.Time
}

// Settlement closes a reservation with what the work consumed.
type Settlement struct {
	TenantID       string
	Day, Month     string
	Tokens         int64
	Refund         bool // give the request back (a server failure that used no tokens)
	IdempotencyKey string
}

// Store persists the platform. Implementations: storage/bolt and storage/postgres;
// tenancy/storetest is the suite both pass.
type Store interface {
	CreateTenant(ctx context.Context, t Tenant) error // ErrConflict on a taken name
	Tenant(ctx context.Context, id string) (Tenant, error)
	Tenants(ctx context.Context) ([]Tenant, error) // by created_at, then name
	SetTier(ctx context.Context, id string, tier Tier) (Tenant, error)
	// Provision creates a tenant, its key and its agents in one transaction.
	Provision(ctx context.Context, t Tenant, k APIKey, agents []Agent) error
	Agents(ctx context.Context, tenantID string) ([]Agent, error)
	AgentCount(ctx context.Context) (int, error)

	CreateKey(ctx context.Context, k APIKey) error // ErrNotFound without the tenant
	KeyByHash(ctx context.Context, hash []byte) (APIKey, error)
	Keys(ctx context.Context, tenantID string) ([]APIKey, error)               // by created_at, then name
	RevokeKey(ctx context.Context, tenantID, keyID string, at time.Time) error // ErrNotFound for another tenant's key
	TouchKey(ctx context.Context, keyID string, at time.Time) error

	CreateUser(ctx context.Context, u User) error // ErrConflict on a taken email
	UserByEmail(ctx context.Context, email string) (User, error)
	User(ctx context.Context, id string) (User, error)
	SaveRefresh(ctx context.Context, t RefreshToken) error
	// RotateRefresh revokes a live token and saves next in one transaction; it returns
	// the user of the old token (next gets that user), or ErrInvalidToken.
	RotateRefresh(ctx context.Context, oldHash []byte, next RefreshToken, now time.Time) (string, error)
	RevokeRefresh(ctx context.Context, hash []byte) error

	// Reserve reads the tenant and its counters, calls admit, and when admit returns nil
	// counts the request; all in one transaction serialised per tenant, so concurrent
	// admissions cannot overshoot. An api call is counted even when admit refuses.
	Reserve(ctx context.Context, r Reservation, admit func(Tenant, Counters) error) (Tenant, Counters, error)
	// Settle adds the tokens and returns the month's counters after it.
	Settle(ctx context.Context, s Settlement) (Counters, error)
	// Usage lists the tenant's days in [from, to] (dates, inclusive), newest first, days
	// without usage left out.
	Usage(ctx context.Context, tenantID, from, to string) ([]DailyUsage, error)
	// TotalUsage sums a tenant's usage over all time.
	TotalUsage(ctx context.Context, tenantID string) (DailyUsage, error)
	// DayTotals sums every tenant's usage on a day.
	DayTotals(ctx context.Context, day string) (DailyUsage, error)

	AddAudit(ctx context.Context, e AuditEntry) error
	Audit(ctx context.Context, limit int) ([]AuditEntry, error) // newest first
	// RaiseAlert stores a, unless an alert of its kind exists; it reports whether it stored.
	RaiseAlert(ctx context.Context, a Alert) (bool, error)
	Alerts(ctx context.Context, f AlertFilter) ([]Alert, error) // newest first
	ResolveAlert(ctx context.Context, id string, at time.Time) (Alert, error)

	Close() error
}

// NewID is a random UUID (version 4).
func NewID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Day and Month are the UTC windows quotas count in.
func Day(t time.Time) string   { return t.UTC().Format(time.DateOnly) }
func Month(t time.Time) string { return t.UTC().Format("2006-01") }

// NextDay and NextMonth are when the current windows reset.
func NextDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}
func NextMonth(t time.Time) time.Time {
	y, m, _ := t.UTC().Date()
	return time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
}
func monthStart(t time.Time) time.Time {
	y, m, _ := t.UTC().Date()
	return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
}

// ValidName is the documented tenant name rule: lowercase, alphanumeric and hyphens.
func ValidName(s string) bool {
	if s == "" || len(s) > 64 || strings.HasPrefix(s, "-") {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Principal is who a request acts for: a tenant, through one of its keys or a user.
type Principal struct {
	TenantID string
	KeyID    string // "" for a user session
	UserID   string // "" for an API key
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p; platform handlers scope every query by it.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom reports the request's principal, if it was authenticated.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
