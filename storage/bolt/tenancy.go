// Package bolt keeps the node's platform data (tenants, keys, users, usage, audit log,
// alerts) in buckets of the node's bbolt database, aria.db.
package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/aria-node/aria/tenancy"
)

var (
	bTenants     = []byte("ares_tenants")      // id -> Tenant
	bTenantNames = []byte("ares_tenant_names") // name -> id
	bKeys        = []byte("ares_keys")         // id -> APIKey
	bKeyHashes   = []byte("ares_key_hashes")   // sha256 -> id
	bUsers       = []byte("ares_users")        // id -> User
	bUserEmails  = []byte("ares_user_emails")  // email -> id
	bRefresh     = []byte("ares_refresh")      // sha256 -> RefreshToken
	bAgents      = []byte("ares_agents")       // tenant/name -> Agent
	bUsage       = []byte("ares_usage")        // tenant/date -> DailyUsage
	bIdem        = []byte("ares_idempotency")  // tenant/key -> time
	bAudit       = []byte("ares_audit")        // seq (8 bytes BE) -> AuditEntry
	bAlerts      = []byte("ares_alerts")       // seq (8 bytes BE) -> Alert
	bAlertIDs    = []byte("ares_alert_ids")    // id -> seq
	bAlertKinds  = []byte("ares_alert_kinds")  // kind -> id
	allBuckets   = [][]byte{bTenants, bTenantNames, bKeys, bKeyHashes, bUsers, bUserEmails, bRefresh, bAgents, bUsage, bIdem, bAudit, bAlerts, bAlertIDs, bAlertKinds}
)

// idempotencyTTL is how long a retry with the same Idempotency-Key is not billed again.
const idempotencyTTL = 24 * time.Hour

// TenancyStore is tenancy.Store on a bbolt database the caller owns.
type TenancyStore struct {
	db      *bbolt.DB
	writers atomic.Int64 // per-request writes in flight
}

var _ tenancy.Store = (*TenancyStore)(nil)

// NewTenancyStore creates the platform's buckets in db.
func NewTenancyStore(db *bbolt.DB) (*TenancyStore, error) {
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("platform buckets: %w", err)
	}
	return &TenancyStore{db: db}, nil
}

// Close does nothing: the database belongs to the caller.
func (s *TenancyStore) Close() error { return nil }

// view and update turn a panic from a damaged page into an error and honour ctx.
func (s *TenancyStore) view(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return guard(func() error { return s.db.View(fn) })
}

func (s *TenancyStore) update(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return guard(func() error { return s.db.Update(fn) })
}

// batch is update for the per-request writes: while others are writing, admissions
// share one commit (one fsync) and still apply one after another; alone, a write
// commits at once rather than wait for company. fn may run more than once.
func (s *TenancyStore) batch(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.writers.Add(1) == 1 {
		defer s.writers.Add(-1)
		return guard(func() error { return s.db.Update(fn) })
	}
	defer s.writers.Add(-1)
	return guard(func() error { return s.db.Batch(fn) })
}

func guard(fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: database panic: %v", tenancy.ErrUnavailable, v)
		}
	}()
	err = fn()
	if errors.Is(err, bbolt.ErrDatabaseNotOpen) || errors.Is(err, bbolt.ErrTxClosed) {
		err = fmt.Errorf("%w: %v", tenancy.ErrUnavailable, err)
	}
	return err
}

func put(b *bbolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}

func get(b *bbolt.Bucket, k []byte, v any) error {
	data := b.Get(k)
	if data == nil {
		return tenancy.ErrNotFound
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("record %q: %w", k, err)
	}
	return nil
}

func pair(a, b string) []byte { return []byte(a + "/" + b) }

func seqKey(n uint64) []byte {
	var k [8]byte
	for i := range 8 {
		k[7-i] = byte(n >> (8 * i))
	}
	return k[:]
}

func createTenant(tx *bbolt.Tx, t tenancy.Tenant) error {
	names := tx.Bucket(bTenantNames)
	if names.Get([]byte(t.Name)) != nil {
		return fmt.Errorf("tenant %s: %w", t.Name, tenancy.ErrConflict)
	}
	if err := names.Put([]byte(t.Name), []byte(t.ID)); err != nil {
		return err
	}
	return put(tx.Bucket(bTenants), []byte(t.ID), t)
}

func (s *TenancyStore) CreateTenant(ctx context.Context, t tenancy.Tenant) error {
	return s.update(ctx, func(tx *bbolt.Tx) error { return createTenant(tx, t) })
}

func (s *TenancyStore) Tenant(ctx context.Context, id string) (t tenancy.Tenant, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error { return get(tx.Bucket(bTenants), []byte(id), &t) })
	return t, err
}

func (s *TenancyStore) Tenants(ctx context.Context) (out []tenancy.Tenant, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bTenants).ForEach(func(k, v []byte) error {
			var t tenancy.Tenant
			if err := json.Unmarshal(v, &t); err != nil {
				return err
			}
			out = append(out, t)
			return nil
		})
	})
	slices.SortFunc(out, func(a, b tenancy.Tenant) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, err
}

func (s *TenancyStore) SetTier(ctx context.Context, id string, tier tenancy.Tier) (t tenancy.Tenant, err error) {
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bTenants)
		if err := get(b, []byte(id), &t); err != nil {
			return err
		}
		t.Tier = tier
		return put(b, []byte(id), t)
	})
	return t, err
}

func createKey(tx *bbolt.Tx, k tenancy.APIKey) error {
	if tx.Bucket(bTenants).Get([]byte(k.TenantID)) == nil {
		return fmt.Errorf("tenant %s: %w", k.TenantID, tenancy.ErrNotFound)
	}
	if err := tx.Bucket(bKeyHashes).Put(k.Hash, []byte(k.ID)); err != nil {
		return err
	}
	return put(tx.Bucket(bKeys), []byte(k.ID), k)
}

func (s *TenancyStore) Provision(ctx context.Context, t tenancy.Tenant, k tenancy.APIKey, agents []tenancy.Agent) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		if err := createTenant(tx, t); err != nil {
			return err
		}
		if err := createKey(tx, k); err != nil {
			return err
		}
		b := tx.Bucket(bAgents)
		for _, a := range agents {
			if b.Get(pair(a.TenantID, a.Name)) != nil {
				return fmt.Errorf("agent %s: %w", a.Name, tenancy.ErrConflict)
			}
			if err := put(b, pair(a.TenantID, a.Name), a); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *TenancyStore) Agents(ctx context.Context, tenantID string) (out []tenancy.Agent, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		prefix := []byte(tenantID + "/")
		c := tx.Bucket(bAgents).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var a tenancy.Agent
			if err := json.Unmarshal(v, &a); err != nil {
				return err
			}
			out = append(out, a)
		}
		return nil
	})
	return out, err
}

func (s *TenancyStore) AgentCount(ctx context.Context) (n int, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		n = tx.Bucket(bAgents).Stats().KeyN
		return nil
	})
	return n, err
}

func (s *TenancyStore) CreateKey(ctx context.Context, k tenancy.APIKey) error {
	return s.update(ctx, func(tx *bbolt.Tx) error { return createKey(tx, k) })
}

func (s *TenancyStore) KeyByHash(ctx context.Context, hash []byte) (k tenancy.APIKey, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		id := tx.Bucket(bKeyHashes).Get(hash)
		if id == nil {
			return tenancy.ErrNotFound
		}
		return get(tx.Bucket(bKeys), id, &k)
	})
	return k, err
}

func (s *TenancyStore) Keys(ctx context.Context, tenantID string) (out []tenancy.APIKey, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bKeys).ForEach(func(_, v []byte) error {
			var k tenancy.APIKey
			if err := json.Unmarshal(v, &k); err != nil {
				return err
			}
			if k.TenantID == tenantID {
				out = append(out, k)
			}
			return nil
		})
	})
	slices.SortFunc(out, func(a, b tenancy.APIKey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Name+a.ID, b.Name+b.ID)
	})
	return out, err
}

func (s *TenancyStore) RevokeKey(ctx context.Context, tenantID, keyID string, at time.Time) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bKeys)
		var k tenancy.APIKey
		if err := get(b, []byte(keyID), &k); err != nil || k.TenantID != tenantID {
			return tenancy.ErrNotFound
		}
		if k.Revoked() {
			return nil
		}
		k.RevokedAt = at
		return put(b, []byte(keyID), k)
	})
}

func (s *TenancyStore) TouchKey(ctx context.Context, keyID string, at time.Time) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bKeys)
		var k tenancy.APIKey
		if err := get(b, []byte(keyID), &k); err != nil {
			return err
		}
		if at.After(k.LastUsed) {
			k.LastUsed = at
		}
		return put(b, []byte(keyID), k)
	})
}

func (s *TenancyStore) CreateUser(ctx context.Context, u tenancy.User) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		emails := tx.Bucket(bUserEmails)
		if emails.Get([]byte(u.Email)) != nil {
			return fmt.Errorf("user %s: %w", u.Email, tenancy.ErrConflict)
		}
		if tx.Bucket(bTenants).Get([]byte(u.TenantID)) == nil {
			return fmt.Errorf("tenant %s: %w", u.TenantID, tenancy.ErrNotFound)
		}
		if err := emails.Put([]byte(u.Email), []byte(u.ID)); err != nil {
			return err
		}
		return put(tx.Bucket(bUsers), []byte(u.ID), u)
	})
}

func (s *TenancyStore) UserByEmail(ctx context.Context, email string) (u tenancy.User, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		id := tx.Bucket(bUserEmails).Get([]byte(strings.ToLower(email)))
		if id == nil {
			return tenancy.ErrNotFound
		}
		return get(tx.Bucket(bUsers), id, &u)
	})
	return u, err
}

func (s *TenancyStore) User(ctx context.Context, id string) (u tenancy.User, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error { return get(tx.Bucket(bUsers), []byte(id), &u) })
	return u, err
}

func (s *TenancyStore) SaveRefresh(ctx context.Context, t tenancy.RefreshToken) error {
	return s.update(ctx, func(tx *bbolt.Tx) error { return put(tx.Bucket(bRefresh), t.Hash, t) })
}

func (s *TenancyStore) RotateRefresh(ctx context.Context, oldHash []byte, next tenancy.RefreshToken, now time.Time) (user string, err error) {
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bRefresh)
		var old tenancy.RefreshToken
		if err := get(b, oldHash, &old); err != nil || old.Revoked || !now.Before(old.ExpiresAt) {
			return tenancy.ErrInvalidToken
		}
		old.Revoked = true
		if err := put(b, oldHash, old); err != nil {
			return err
		}
		next.UserID = old.UserID
		user = old.UserID
		return put(b, next.Hash, next)
	})
	return user, err
}

func (s *TenancyStore) RevokeRefresh(ctx context.Context, hash []byte) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bRefresh)
		var t tenancy.RefreshToken
		if err := get(b, hash, &t); err != nil {
			return tenancy.ErrInvalidToken
		}
		t.Revoked = true
		return put(b, hash, t)
	})
}

func dayUsage(b *bbolt.Bucket, tenantID, day string) (tenancy.DailyUsage, error) {
	d := tenancy.DailyUsage{Date: day}
	err := get(b, pair(tenantID, day), &d)
	if errors.Is(err, tenancy.ErrNotFound) {
		err = nil
	}
	return d, err
}

func monthUsage(b *bbolt.Bucket, tenantID, month string) (runs, tokens int64, err error) {
	prefix := pair(tenantID, month+"-")
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var d tenancy.DailyUsage
		if err := json.Unmarshal(v, &d); err != nil {
			return 0, 0, err
		}
		runs += d.Runs
		tokens += d.Tokens
	}
	return runs, tokens, nil
}

type idemRecord struct {
	At time.Time `json:"at"`
}

func (s *TenancyStore) Reserve(ctx context.Context, r tenancy.Reservation, admit func(tenancy.Tenant, tenancy.Counters) error) (t tenancy.Tenant, c tenancy.Counters, err error) {
	var refused error
	err = s.batch(ctx, func(tx *bbolt.Tx) error {
		t, c, refused = tenancy.Tenant{}, tenancy.Counters{}, nil
		if err := get(tx.Bucket(bTenants), []byte(r.TenantID), &t); err != nil {
			return err
		}
		ub := tx.Bucket(bUsage)
		day, err := dayUsage(ub, r.TenantID, r.Day)
		if err != nil {
			return err
		}
		c.DayRuns = day.Runs
		if c.MonthRuns, c.MonthTokens, err = monthUsage(ub, r.TenantID, r.Month); err != nil {
			return err
		}
		ib := tx.Bucket(bIdem)
		if r.IdempotencyKey != "" {
			var rec idemRecord
			if get(ib, pair(r.TenantID, r.IdempotencyKey), &rec) == nil && r.At.Sub(rec.At) < idempotencyTTL {
				c.Replay = true
			}
		}
		day.APICalls++
		refused = admit(t, c)
		if refused == nil && r.Counted && !c.Replay {
			day.Runs++
			if r.IdempotencyKey != "" {
				if err := put(ib, pair(r.TenantID, r.IdempotencyKey), idemRecord{At: r.At}); err != nil {
					return err
				}
			}
		}
		return put(ub, pair(r.TenantID, r.Day), day)
	})
	if err == nil {
		err = refused
	}
	return t, c, err
}

func (s *TenancyStore) Settle(ctx context.Context, st tenancy.Settlement) (c tenancy.Counters, err error) {
	err = s.batch(ctx, func(tx *bbolt.Tx) error {
		ub := tx.Bucket(bUsage)
		day, err := dayUsage(ub, st.TenantID, st.Day)
		if err != nil {
			return err
		}
		day.Tokens += st.Tokens
		if st.Refund && day.Runs > 0 {
			day.Runs--
			if st.IdempotencyKey != "" {
				if err := tx.Bucket(bIdem).Delete(pair(st.TenantID, st.IdempotencyKey)); err != nil {
					return err
				}
			}
		}
		if err := put(ub, pair(st.TenantID, st.Day), day); err != nil {
			return err
		}
		c.DayRuns = day.Runs
		c.MonthRuns, c.MonthTokens, err = monthUsage(ub, st.TenantID, st.Month)
		return err
	})
	return c, err
}

func (s *TenancyStore) Usage(ctx context.Context, tenantID, from, to string) (out []tenancy.DailyUsage, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		c := tx.Bucket(bUsage).Cursor()
		prefix := []byte(tenantID + "/")
		end := pair(tenantID, to)
		for k, v := c.Seek(pair(tenantID, from)); k != nil && bytes.HasPrefix(k, prefix) && bytes.Compare(k, end) <= 0; k, v = c.Next() {
			var d tenancy.DailyUsage
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	slices.Reverse(out)
	return out, err
}

func (s *TenancyStore) TotalUsage(ctx context.Context, tenantID string) (tot tenancy.DailyUsage, err error) {
	days, err := s.Usage(ctx, tenantID, "0000-00-00", "9999-99-99")
	for _, d := range days {
		tot.Runs += d.Runs
		tot.Tokens += d.Tokens
		tot.APICalls += d.APICalls
	}
	return tot, err
}

func (s *TenancyStore) DayTotals(ctx context.Context, day string) (tot tenancy.DailyUsage, err error) {
	tot.Date = day
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		suffix := []byte("/" + day)
		return tx.Bucket(bUsage).ForEach(func(k, v []byte) error {
			if !bytes.HasSuffix(k, suffix) {
				return nil
			}
			var d tenancy.DailyUsage
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			tot.Runs += d.Runs
			tot.Tokens += d.Tokens
			tot.APICalls += d.APICalls
			return nil
		})
	})
	return tot, err
}

func (s *TenancyStore) AddAudit(ctx context.Context, e tenancy.AuditEntry) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bAudit)
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		return put(b, seqKey(n), e)
	})
}

func (s *TenancyStore) Audit(ctx context.Context, limit int) (out []tenancy.AuditEntry, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		c := tx.Bucket(bAudit).Cursor()
		for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			var e tenancy.AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

func (s *TenancyStore) RaiseAlert(ctx context.Context, a tenancy.Alert) (stored bool, err error) {
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		kinds := tx.Bucket(bAlertKinds)
		if a.Kind != "" && kinds.Get([]byte(a.Kind)) != nil {
			return nil
		}
		b := tx.Bucket(bAlerts)
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		if a.Kind != "" {
			if err := kinds.Put([]byte(a.Kind), []byte(a.ID)); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bAlertIDs).Put([]byte(a.ID), seqKey(n)); err != nil {
			return err
		}
		stored = true
		return put(b, seqKey(n), a)
	})
	return stored, err
}

func (s *TenancyStore) Alerts(ctx context.Context, f tenancy.AlertFilter) (out []tenancy.Alert, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		c := tx.Bucket(bAlerts).Cursor()
		for k, v := c.Last(); k != nil && (f.Limit <= 0 || len(out) < f.Limit); k, v = c.Prev() {
			var a tenancy.Alert
			if err := json.Unmarshal(v, &a); err != nil {
				return err
			}
			if (f.Severity == "" || a.Severity == f.Severity) && (f.Resolved == nil || a.Resolved == *f.Resolved) {
				out = append(out, a)
			}
		}
		return nil
	})
	return out, err
}

func (s *TenancyStore) ResolveAlert(ctx context.Context, id string, at time.Time) (a tenancy.Alert, err error) {
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		seq := tx.Bucket(bAlertIDs).Get([]byte(id))
		if seq == nil {
			return tenancy.ErrNotFound
		}
		b := tx.Bucket(bAlerts)
		if err := get(b, seq, &a); err != nil {
			return err
		}
		if !a.Resolved {
			a.Resolved, a.ResolvedAt = true, at
		}
		return put(b, seq, a)
	})
	return a, err
}
