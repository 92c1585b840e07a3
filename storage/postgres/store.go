// Package postgres keeps the platform (tenants, keys, users, usage, audit log, alerts)
// in PostgreSQL, so several aria gateways share tenants and their quotas.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aria-node/aria/tenancy"
)

// Store is tenancy.Store on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
}

var _ tenancy.Store = (*Store)(nil)

// Open connects to url (postgres://…) and applies the schema's migrations.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", redact(err))
	}
	if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL: %w", redact(err))
	}
	s := &Store{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// redact keeps a password in the URL out of error messages.
func redact(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "://"); i >= 0 {
		if j := strings.Index(msg[i:], "@"); j > 0 {
			msg = msg[:i+3] + "***" + msg[i+j:]
		}
	}
	return errors.New(msg)
}

func (s *Store) migrate(ctx context.Context) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7262696101)`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS ares_schema (version int NOT NULL)`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		var v int
		err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM ares_schema`).Scan(&v)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if v > len(migrations) {
			return fmt.Errorf("the database's platform schema is version %d, newer than this aria (%d)", v, len(migrations))
		}
		for i := v; i < len(migrations); i++ {
			if _, err := tx.Exec(ctx, migrations[i]); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO ares_schema (version) VALUES ($1)`, i+1); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
		}
		return nil
	})
}

// Close closes the connection pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// wrap maps driver errors: unique violations are conflicts, connection failures mean
// the database is unavailable.
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return tenancy.ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return fmt.Errorf("%s: %w", what, tenancy.ErrConflict)
		case "23503":
			return fmt.Errorf("%s: %w", what, tenancy.ErrNotFound)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	if errors.Is(err, tenancy.ErrNotFound) || errors.Is(err, tenancy.ErrConflict) || errors.Is(err, tenancy.ErrInvalidToken) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %s: %v", tenancy.ErrUnavailable, what, err)
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

const tenantCols = `id, name, tier, product_type, created_at`

func scanTenant(row pgx.Row) (tenancy.Tenant, error) {
	var t tenancy.Tenant
	var tier string
	err := row.Scan(&t.ID, &t.Name, &tier, &t.ProductType, &t.CreatedAt)
	t.Tier, t.CreatedAt = tenancy.Tier(tier), t.CreatedAt.UTC()
	return t, err
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func insertTenant(ctx context.Context, db execer, t tenancy.Tenant) error {
	_, err := db.Exec(ctx, `INSERT INTO ares_tenants (`+tenantCols+`) VALUES ($1,$2,$3,$4,$5)`, t.ID, t.Name, string(t.Tier), t.ProductType, t.CreatedAt)
	return wrap("tenant "+t.Name, err)
}

func (s *Store) CreateTenant(ctx context.Context, t tenancy.Tenant) error {
	return insertTenant(ctx, s.pool, t)
}

func (s *Store) Tenant(ctx context.Context, id string) (tenancy.Tenant, error) {
	t, err := scanTenant(s.pool.QueryRow(ctx, `SELECT `+tenantCols+` FROM ares_tenants WHERE id = $1`, id))
	return t, wrap("tenant", err)
}

func (s *Store) Tenants(ctx context.Context) ([]tenancy.Tenant, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tenantCols+` FROM ares_tenants ORDER BY created_at, name`)
	if err != nil {
		return nil, wrap("tenants", err)
	}
	var out []tenancy.Tenant
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			rows.Close()
			return nil, wrap("tenants", err)
		}
		out = append(out, t)
	}
	return out, wrap("tenants", rows.Err())
}

func (s *Store) SetTier(ctx context.Context, id string, tier tenancy.Tier) (tenancy.Tenant, error) {
	t, err := scanTenant(s.pool.QueryRow(ctx, `UPDATE ares_tenants SET tier = $2 WHERE id = $1 RETURNING `+tenantCols, id, string(tier)))
	return t, wrap("tenant", err)
}

func insertKey(ctx context.Context, db execer, k tenancy.APIKey) error {
	_, err := db.Exec(ctx, `INSERT INTO ares_api_keys (id, tenant_id, name, prefix, hash, created_at, expires_at, last_used, revoked_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`, k.ID, k.TenantID, k.Name, k.Prefix, k.Hash, k.CreatedAt, nullTime(k.ExpiresAt), nullTime(k.LastUsed), nullTime(k.RevokedAt))
	return wrap("tenant "+k.TenantID, err)
}

func (s *Store) Provision(ctx context.Context, t tenancy.Tenant, k tenancy.APIKey, agents []tenancy.Agent) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := insertTenant(ctx, tx, t); err != nil {
			return err
		}
		if err := insertKey(ctx, tx, k); err != nil {
			return err
		}
		for _, a := range agents {
			cfg, _ := json.Marshal(a.Config)
			if _, err := tx.Exec(ctx, `INSERT INTO ares_agents (id, tenant_id, name, agent_type, config, created_at) VALUES ($1,$2,$3,$4,$5,$6)`,
				a.ID, a.TenantID, a.Name, a.AgentType, cfg, a.CreatedAt); err != nil {
				return wrap("agent "+a.Name, err)
			}
		}
		return nil
	})
}

func (s *Store) Agents(ctx context.Context, tenantID string) ([]tenancy.Agent, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, tenant_id, name, agent_type, config, created_at FROM ares_agents WHERE tenant_id = $1 ORDER BY name`, tenantID)
	if err != nil {
		return nil, wrap("agents", err)
	}
	defer rows.Close()
	var out []tenancy.Agent
	for rows.Next() {
		var a tenancy.Agent
		var cfg []byte
		if err := rows.Scan(&a.ID, &a.TenantID, &a.Name, &a.AgentType, &cfg, &a.CreatedAt); err != nil {
			return nil, wrap("agents", err)
		}
		if err := json.Unmarshal(cfg, &a.Config); err != nil {
			return nil, fmt.Errorf("agent %s config: %w", a.Name, err)
		}
		a.CreatedAt = a.CreatedAt.UTC()
		out = append(out, a)
	}
	return out, wrap("agents", rows.Err())
}

func (s *Store) AgentCount(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM ares_agents`).Scan(&n)
	return n, wrap("agents", err)
}

func (s *Store) CreateKey(ctx context.Context, k tenancy.APIKey) error {
	return insertKey(ctx, s.pool, k)
}

const keyCols = `id, tenant_id, name, prefix, hash, created_at, expires_at, last_used, revoked_at`

func scanKey(row pgx.Row) (tenancy.APIKey, error) {
	var k tenancy.APIKey
	var exp, last, rev *time.Time
	err := row.Scan(&k.ID, &k.TenantID, &k.Name, &k.Prefix, &k.Hash, &k.CreatedAt, &exp, &last, &rev)
	k.CreatedAt, k.ExpiresAt, k.LastUsed, k.RevokedAt = k.CreatedAt.UTC(), fromNull(exp), fromNull(last), fromNull(rev)
	return k, err
}

func (s *Store) KeyByHash(ctx context.Context, hash []byte) (tenancy.APIKey, error) {
	k, err := scanKey(s.pool.QueryRow(ctx, `SELECT `+keyCols+` FROM ares_api_keys WHERE hash = $1`, hash))
	return k, wrap("api key", err)
}

func (s *Store) Keys(ctx context.Context, tenantID string) ([]tenancy.APIKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+keyCols+` FROM ares_api_keys WHERE tenant_id = $1 ORDER BY created_at, name || id`, tenantID)
	if err != nil {
		return nil, wrap("api keys", err)
	}
	defer rows.Close()
	var out []tenancy.APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, wrap("api keys", err)
		}
		out = append(out, k)
	}
	return out, wrap("api keys", rows.Err())
}

func (s *Store) RevokeKey(ctx context.Context, tenantID, keyID string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE ares_api_keys SET revoked_at = coalesce(revoked_at, $3) WHERE id = $1 AND tenant_id = $2`, keyID, tenantID, at)
	if err != nil {
		return wrap("api key", err)
	}
	if tag.RowsAffected() == 0 {
		return tenancy.ErrNotFound
	}
	return nil
}

func (s *Store) TouchKey(ctx context.Context, keyID string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE ares_api_keys SET last_used = $2 WHERE id = $1 AND (last_used IS NULL OR last_used < $2)`, keyID, at)
	return wrap("api key", err)
}

func (s *Store) CreateUser(ctx context.Context, u tenancy.User) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO ares_users (id, tenant_id, email, name, password_hash, created_at) VALUES ($1,$2,$3,$4,$5,$6)`,
		u.ID, u.TenantID, u.Email, u.Name, u.PasswordHash, u.CreatedAt)
	return wrap("user "+u.Email, err)
}

const userCols = `id, tenant_id, email, name, password_hash, created_at`

func scanUser(row pgx.Row) (tenancy.User, error) {
	var u tenancy.User
	err := row.Scan(&u.ID, &u.TenantID, &u.Email, &u.Name, &u.PasswordHash, &u.CreatedAt)
	u.CreatedAt = u.CreatedAt.UTC()
	return u, err
}

func (s *Store) UserByEmail(ctx context.Context, email string) (tenancy.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM ares_users WHERE email = $1`, strings.ToLower(email)))
	return u, wrap("user", err)
}

func (s *Store) User(ctx context.Context, id string) (tenancy.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM ares_users WHERE id = $1`, id))
	return u, wrap("user", err)
}

func (s *Store) SaveRefresh(ctx context.Context, t tenancy.RefreshToken) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO ares_refresh_tokens (hash, user_id, expires_at, revoked) VALUES ($1,$2,$3,$4)`, t.Hash, t.UserID, t.ExpiresAt, t.Revoked)
	return wrap("refresh token", err)
}

func (s *Store) RotateRefresh(ctx context.Context, oldHash []byte, next tenancy.RefreshToken, now time.Time) (string, error) {
	var user string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE ares_refresh_tokens SET revoked = true WHERE hash = $1 AND NOT revoked AND expires_at > $2 RETURNING user_id`, oldHash, now).Scan(&user)
		if errors.Is(err, pgx.ErrNoRows) {
			return tenancy.ErrInvalidToken
		}
		if err != nil {
			return wrap("refresh token", err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO ares_refresh_tokens (hash, user_id, expires_at) VALUES ($1,$2,$3)`, next.Hash, user, next.ExpiresAt)
		return wrap("refresh token", err)
	})
	return user, err
}

func (s *Store) RevokeRefresh(ctx context.Context, hash []byte) error {
	tag, err := s.pool.Exec(ctx, `UPDATE ares_refresh_tokens SET revoked = true WHERE hash = $1`, hash)
	if err != nil {
		return wrap("refresh token", err)
	}
	if tag.RowsAffected() == 0 {
		return tenancy.ErrInvalidToken
	}
	return nil
}

func monthRange(month string) (time.Time, time.Time, error) {
	start, err := time.Parse("2006-01", month)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	return start, start.AddDate(0, 1, 0), nil
}

type queryer interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func monthCounters(ctx context.Context, db queryer, tenantID, month string, c *tenancy.Counters) error {
	from, to, err := monthRange(month)
	if err != nil {
		return err
	}
	return db.QueryRow(ctx, `SELECT coalesce(sum(runs), 0), coalesce(sum(tokens), 0) FROM ares_usage_daily WHERE tenant_id = $1 AND day >= $2 AND day < $3`,
		tenantID, from, to).Scan(&c.MonthRuns, &c.MonthTokens)
}

// Reserve locks the tenant's row, so admissions of one tenant are serialised across
// every gateway sharing the database.
func (s *Store) Reserve(ctx context.Context, r tenancy.Reservation, admit func(tenancy.Tenant, tenancy.Counters) error) (tenancy.Tenant, tenancy.Counters, error) {
	var t tenancy.Tenant
	var c tenancy.Counters
	var refused error
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		t, err = scanTenant(tx.QueryRow(ctx, `SELECT `+tenantCols+` FROM ares_tenants WHERE id = $1 FOR UPDATE`, r.TenantID))
		if err != nil {
			return wrap("tenant", err)
		}
		err = tx.QueryRow(ctx, `SELECT runs FROM ares_usage_daily WHERE tenant_id = $1 AND day = $2`, r.TenantID, r.Day).Scan(&c.DayRuns)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return wrap("usage", err)
		}
		if err := monthCounters(ctx, tx, r.TenantID, r.Month, &c); err != nil {
			return wrap("usage", err)
		}
		if r.IdempotencyKey != "" {
			var at time.Time
			err := tx.QueryRow(ctx, `SELECT created_at FROM ares_idempotency WHERE tenant_id = $1 AND key = $2`, r.TenantID, r.IdempotencyKey).Scan(&at)
			if err == nil && r.At.Sub(at) < 24*time.Hour {
				c.Replay = true
			} else if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return wrap("idempotency", err)
			}
		}
		refused = admit(t, c)
		run := 0
		if refused == nil && r.Counted && !c.Replay {
			run = 1
			if r.IdempotencyKey != "" {
				if _, err := tx.Exec(ctx, `INSERT INTO ares_idempotency (tenant_id, key, created_at) VALUES ($1,$2,$3)
					ON CONFLICT (tenant_id, key) DO UPDATE SET created_at = EXCLUDED.created_at`, r.TenantID, r.IdempotencyKey, r.At); err != nil {
					return wrap("idempotency", err)
				}
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO ares_usage_daily (tenant_id, day, runs, api_calls) VALUES ($1,$2,$3,1)
			ON CONFLICT (tenant_id, day) DO UPDATE SET runs = ares_usage_daily.runs + $3, api_calls = ares_usage_daily.api_calls + 1`, r.TenantID, r.Day, run)
		return wrap("usage", err)
	})
	if err == nil {
		err = refused
	}
	return t, c, err
}

func (s *Store) Settle(ctx context.Context, st tenancy.Settlement) (tenancy.Counters, error) {
	var c tenancy.Counters
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		refund := 0
		if st.Refund {
			refund = 1
		}
		err := tx.QueryRow(ctx, `INSERT INTO ares_usage_daily (tenant_id, day, tokens) VALUES ($1,$2,$3)
			ON CONFLICT (tenant_id, day) DO UPDATE SET tokens = ares_usage_daily.tokens + $3, runs = greatest(ares_usage_daily.runs - $4, 0)
			RETURNING runs`, st.TenantID, st.Day, st.Tokens, refund).Scan(&c.DayRuns)
		if err != nil {
			return wrap("usage", err)
		}
		if st.Refund && st.IdempotencyKey != "" {
			if _, err := tx.Exec(ctx, `DELETE FROM ares_idempotency WHERE tenant_id = $1 AND key = $2`, st.TenantID, st.IdempotencyKey); err != nil {
				return wrap("idempotency", err)
			}
		}
		return wrap("usage", monthCounters(ctx, tx, st.TenantID, st.Month, &c))
	})
	return c, err
}

func (s *Store) Usage(ctx context.Context, tenantID, from, to string) ([]tenancy.DailyUsage, error) {
	rows, err := s.pool.Query(ctx, `SELECT to_char(day, 'YYYY-MM-DD'), runs, tokens, api_calls FROM ares_usage_daily
		WHERE tenant_id = $1 AND day >= $2::date AND day <= $3::date ORDER BY day DESC`, tenantID, clampDate(from), clampDate(to))
	if err != nil {
		return nil, wrap("usage", err)
	}
	defer rows.Close()
	var out []tenancy.DailyUsage
	for rows.Next() {
		var d tenancy.DailyUsage
		if err := rows.Scan(&d.Date, &d.Runs, &d.Tokens, &d.APICalls); err != nil {
			return nil, wrap("usage", err)
		}
		out = append(out, d)
	}
	return out, wrap("usage", rows.Err())
}

// clampDate keeps open-ended ranges ("0000-…", "9999-…") valid PostgreSQL dates.
func clampDate(d string) string {
	if _, err := time.Parse(time.DateOnly, d); err != nil || d < "0001-01-01" {
		if d > "5000" {
			return "9999-12-31"
		}
		return "0001-01-01"
	}
	return d
}

func (s *Store) TotalUsage(ctx context.Context, tenantID string) (tenancy.DailyUsage, error) {
	var d tenancy.DailyUsage
	err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(runs),0), coalesce(sum(tokens),0), coalesce(sum(api_calls),0) FROM ares_usage_daily WHERE tenant_id = $1`, tenantID).
		Scan(&d.Runs, &d.Tokens, &d.APICalls)
	return d, wrap("usage", err)
}

func (s *Store) DayTotals(ctx context.Context, day string) (tenancy.DailyUsage, error) {
	d := tenancy.DailyUsage{Date: day}
	err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(runs),0), coalesce(sum(tokens),0), coalesce(sum(api_calls),0) FROM ares_usage_daily WHERE day = $1::date`, day).
		Scan(&d.Runs, &d.Tokens, &d.APICalls)
	return d, wrap("usage", err)
}

func (s *Store) AddAudit(ctx context.Context, e tenancy.AuditEntry) error {
	details, err := json.Marshal(e.Details)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO ares_audit_log (id, action, actor, details, ts) VALUES ($1,$2,$3,$4,$5)`, e.ID, e.Action, e.Actor, details, e.Timestamp)
	return wrap("audit log", err)
}

func (s *Store) Audit(ctx context.Context, limit int) ([]tenancy.AuditEntry, error) {
	if limit <= 0 {
		limit = 1 << 30
	}
	rows, err := s.pool.Query(ctx, `SELECT id, action, actor, details, ts FROM ares_audit_log ORDER BY seq DESC LIMIT $1`, limit)
	if err != nil {
		return nil, wrap("audit log", err)
	}
	defer rows.Close()
	var out []tenancy.AuditEntry
	for rows.Next() {
		var e tenancy.AuditEntry
		var details []byte
		if err := rows.Scan(&e.ID, &e.Action, &e.Actor, &details, &e.Timestamp); err != nil {
			return nil, wrap("audit log", err)
		}
		if err := json.Unmarshal(details, &e.Details); err != nil {
			return nil, fmt.Errorf("audit entry %s: %w", e.ID, err)
		}
		e.Timestamp = e.Timestamp.UTC()
		out = append(out, e)
	}
	return out, wrap("audit log", rows.Err())
}

func (s *Store) RaiseAlert(ctx context.Context, a tenancy.Alert) (bool, error) {
	var kind *string
	if a.Kind != "" {
		kind = &a.Kind
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO ares_alerts (id, kind, severity, message, tenant_id, created_at, resolved, resolved_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (kind) DO NOTHING`, a.ID, kind, a.Severity, a.Message, a.TenantID, a.CreatedAt, a.Resolved, nullTime(a.ResolvedAt))
	if err != nil {
		return false, wrap("alert", err)
	}
	return tag.RowsAffected() == 1, nil
}

const alertCols = `id, coalesce(kind, ''), severity, message, tenant_id, created_at, resolved, resolved_at`

func scanAlert(row pgx.Row) (tenancy.Alert, error) {
	var a tenancy.Alert
	var res *time.Time
	err := row.Scan(&a.ID, &a.Kind, &a.Severity, &a.Message, &a.TenantID, &a.CreatedAt, &a.Resolved, &res)
	a.CreatedAt, a.ResolvedAt = a.CreatedAt.UTC(), fromNull(res)
	return a, err
}

func (s *Store) Alerts(ctx context.Context, f tenancy.AlertFilter) ([]tenancy.Alert, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 1 << 30
	}
	rows, err := s.pool.Query(ctx, `SELECT `+alertCols+` FROM ares_alerts
		WHERE ($1 = '' OR severity = $1) AND ($2::boolean IS NULL OR resolved = $2) ORDER BY seq DESC LIMIT $3`, f.Severity, f.Resolved, limit)
	if err != nil {
		return nil, wrap("alerts", err)
	}
	defer rows.Close()
	var out []tenancy.Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, wrap("alerts", err)
		}
		out = append(out, a)
	}
	return out, wrap("alerts", rows.Err())
}

func (s *Store) ResolveAlert(ctx context.Context, id string, at time.Time) (tenancy.Alert, error) {
	a, err := scanAlert(s.pool.QueryRow(ctx, `UPDATE ares_alerts SET resolved = true, resolved_at = coalesce(resolved_at, $2) WHERE id = $1 RETURNING `+alertCols, id, at))
	return a, wrap("alert", err)
}
