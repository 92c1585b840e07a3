// Package storetest is the behaviour every tenancy.Store must have; storage/bolt and
// storage/postgres run it.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aria-node/aria/internal/storesuite"
	"github.com/aria-node/aria/tenancy"
)

// Run runs the suite; open returns an empty store for each subtest.
func Run(t *testing.T, open func(t *testing.T) tenancy.Store) {
	storesuite.Run(t, open, []storesuite.Case[tenancy.Store]{
		{Name: "Tenants", Fn: testTenants},
		{Name: "Keys", Fn: testKeys},
		{Name: "ProvisionAtomic", Fn: testProvision},
		{Name: "Users", Fn: testUsers},
		{Name: "RefreshRotation", Fn: testRefresh},
		{Name: "ReserveSettle", Fn: testReserveSettle},
		{Name: "Idempotency", Fn: testIdempotency},
		{Name: "ConcurrentReserve", Fn: testConcurrentReserve},
		{Name: "Audit", Fn: testAudit},
		{Name: "Alerts", Fn: testAlerts},
	})
}

// The suites' shared clock and helpers.
var (
	t0      = storesuite.T0
	must    = storesuite.Must
	wantErr = storesuite.WantErr
)

func tenant(name string, tier tenancy.Tier) tenancy.Tenant {
	return tenancy.Tenant{ID: tenancy.NewID(), Name: name, Tier: tier, CreatedAt: t0}
}

func key(tenantID, secret string) tenancy.APIKey {
	return tenancy.APIKey{ID: tenancy.NewID(), TenantID: tenantID, Name: "k", Prefix: secret[:9], Hash: tenancy.HashSecret(secret), CreatedAt: t0}
}

func testTenants(t *testing.T, s tenancy.Store) {
	ctx := context.Background()
	a := tenant("acme", tenancy.TierPro)
	must(t, s.CreateTenant(ctx, a))
	wantErr(t, s.CreateTenant(ctx, tenant("acme", tenancy.TierFree)), tenancy.ErrConflict)
	b := tenant("beta", tenancy.TierFree)
	b.CreatedAt = t0.Add(time.Second)
	must(t, s.CreateTenant(ctx, b))
	got, err := s.Tenant(ctx, a.ID)
	must(t, err)
	if got.Name != "acme" || got.Tier != tenancy.TierPro || !got.CreatedAt.Equal(t0) {
		t.Fatalf("tenant %+v", got)
	}
	_, err = s.Tenant(ctx, tenancy.NewID())
	wantErr(t, err, tenancy.ErrNotFound)
	all, err := s.Tenants(ctx)
	must(t, err)
	if len(all) != 2 || all[0].ID != a.ID || all[1].ID != b.ID {
		t.Fatalf("tenants %+v", all)
	}
	up, err := s.SetTier(ctx, b.ID, tenancy.TierEnterprise)
	must(t, err)
	if up.Tier != tenancy.TierEnterprise {
		t.Fatalf("tier %s", up.Tier)
	}
	got, _ = s.Tenant(ctx, b.ID)
	if got.Tier != tenancy.TierEnterprise {
		t.Fatalf("tier not stored: %s", got.Tier)
	}
	_, err = s.SetTier(ctx, "nope", tenancy.TierDev)
	wantErr(t, err, tenancy.ErrNotFound)
}

func testKeys(t *testing.T, s tenancy.Store) {
	ctx := context.Background()
	a, b := tenant("a", tenancy.TierFree), tenant("b", tenancy.TierFree)
	must(t, s.CreateTenant(ctx, a))
	must(t, s.CreateTenant(ctx, b))
	wantErr(t, s.CreateKey(ctx, key(tenancy.NewID(), tenancy.NewKeySecret())), tenancy.ErrNotFound)
	secret := tenancy.NewKeySecret()
	ka := key(a.ID, secret)
	ka.ExpiresAt = t0.Add(time.Hour)
	must(t, s.CreateKey(ctx, ka))
	kb := key(b.ID, tenancy.NewKeySecret())
	must(t, s.CreateKey(ctx, kb))
	got, err := s.KeyByHash(ctx, tenancy.HashSecret(secret))
	must(t, err)
	if got.ID != ka.ID || got.TenantID != a.ID || !got.ExpiresAt.Equal(ka.ExpiresAt) || string(got.Hash) != string(ka.Hash) {
		t.Fatalf("key %+v", got)
	}
	_, err = s.KeyByHash(ctx, tenancy.HashSecret(secret+"x"))
	wantErr(t, err, tenancy.ErrNotFound)
	keys, err := s.Keys(ctx, a.ID)
	must(t, err)
	if len(keys) != 1 || keys[0].ID != ka.ID {
		t.Fatalf("tenant a sees %+v", keys)
	}
	// Another tenant's key is not found, and stays live.
	wantErr(t, s.RevokeKey(ctx, a.ID, kb.ID, t0), tenancy.ErrNotFound)
	if got, _ := s.KeyByHash(ctx, kb.Hash); got.Revoked() {
		t.Fatal("tenant a revoked tenant b's key")
	}
	must(t, s.RevokeKey(ctx, a.ID, ka.ID, t0.Add(time.Minute)))
	got, _ = s.KeyByHash(ctx, ka.Hash)
	if !got.Revoked() || !got.RevokedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("not revoked: %+v", got)
	}
	must(t, s.TouchKey(ctx, kb.ID, t0.Add(2*time.Minute)))
	got, _ = s.KeyByHash(ctx, kb.Hash)
	if !got.LastUsed.Equal(t0.Add(2 * time.Minute)) {
		t.Fatalf("last_used %v", got.LastUsed)
	}
}

func testProvision(t *testing.T, s tenancy.Store) {
	ctx := context.Background()
	tn := tenant("acme", tenancy.TierPro)
	k := key(tn.ID, tenancy.NewKeySecret())
	agents := []tenancy.Agent{
		{ID: tenancy.NewID(), TenantID: tn.ID, Name: "x", AgentType: "classifier", Config: tenancy.AgentConfig{Model: "m", Tools: []string{"calc"}}, CreatedAt: t0},
		{ID: tenancy.NewID(), TenantID: tn.ID, Name: "y", AgentType: "risk", CreatedAt: t0},
	}
	must(t, s.Provision(ctx, tn, k, agents))
	got, err := s.Agents(ctx, tn.ID)
	must(t, err)
	if len(got) != 2 || got[0].Config.Tools[0] != "calc" {
		t.Fatalf("agents %+v", got)
	}
	if n, _ := s.AgentCount(ctx); n != 2 {
		t.Fatalf("agent count %d", n)
	}
	// A second provisioning under a taken name leaves nothing behind.
	t2 := tenant("acme", tenancy.TierFree)
	k2 := key(t2.ID, tenancy.NewKeySecret())
	wantErr(t, s.Provision(ctx, t2, k2, []tenancy.Agent{{ID: tenancy.NewID(), TenantID: t2.ID, Name: "z", CreatedAt: t0}}), tenancy.ErrConflict)
	if _, err := s.KeyByHash(ctx, k2.Hash); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("key of a failed provisioning exists: %v", err)
	}
	if _, err := s.Tenant(ctx, t2.ID); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("tenant of a failed provisioning exists: %v", err)
	}
	// A duplicate agent name rolls back the tenant and key too.
	t3 := tenant("gamma", tenancy.TierFree)
	k3 := key(t3.ID, tenancy.NewKeySecret())
	dup := []tenancy.Agent{{ID: tenancy.NewID(), TenantID: t3.ID, Name: "same", CreatedAt: t0}, {ID: tenancy.NewID(), TenantID: t3.ID, Name: "same", CreatedAt: t0}}
	if err := s.Provision(ctx, t3, k3, dup); err == nil {
		t.Fatal("duplicate agent names provisioned")
	}
	if _, err := s.Tenant(ctx, t3.ID); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("half-provisioned tenant: %v", err)
	}
	if _, err := s.KeyByHash(ctx, k3.Hash); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("half-provisioned key: %v", err)
	}
}

func testUsers(t *testing.T, s tenancy.Store) {
	ctx := context.Background()
	tn := tenant("a", tenancy.TierFree)
	must(t, s.CreateTenant(ctx, tn))
	u := tenancy.User{ID: "usr_1", TenantID: tn.ID, Email: "jane@example.com", Name: "Jane", PasswordHash: []byte("hash"), CreatedAt: t0}
	must(t, s.CreateUser(ctx, u))
	dup := u
	dup.ID = "usr_2"
	wantErr(t, s.CreateUser(ctx, dup), tenancy.ErrConflict)
	got, err := s.UserByEmail(ctx, "jane@example.com")
	must(t, err)
	if got.ID != "usr_1" || string(got.PasswordHash) != "hash" || got.TenantID != tn.ID {
		t.Fatalf("user %+v", got)
	}
	_, err = s.UserByEmail(ctx, "bob@example.com")
	wantErr(t, err, tenancy.ErrNotFound)
	got, err = s.User(ctx, "usr_1")
	must(t, err)
	if got.Email != u.Email {
		t.Fatalf("user %+v", got)
	}
	_, err = s.User(ctx, "usr_x")
	wantErr(t, err, tenancy.ErrNotFound)
}

func testRefresh(t *testing.T, s tenancy.Store) {
	ctx := context.Background()
	r1 := tenancy.RefreshToken{Hash: tenancy.HashSecret("rt_1"), UserID: "usr_1", ExpiresAt: t0.Add(time.Hour)}
	must(t, s.SaveRefresh(ctx, r1))
	r2 := tenancy.RefreshToken{Hash: tenancy.HashSecret("rt_2"), ExpiresAt: t0.Add(2 * time.Hour)}
	user, err := s.RotateRefresh(ctx, r1.Hash, r2, t0)
	must(t, err)
	if user != "usr_1" {
		t.Fatalf("user %q", user)
	}
	// The old token is spent; the new one carries the user.
	_, err = s.RotateRefresh(ctx, r1.Hash, tenancy.RefreshToken{Hash: tenancy.HashSecret("rt_3"), ExpiresAt: t0.Add(time.Hour)}, t0)
	wantErr(t, err, tenancy.ErrInvalidToken)
	user, err = s.RotateRefresh(ctx, r2.Hash, tenancy.RefreshToken{Hash: tenancy.HashSecret("rt_4"), ExpiresAt: t0.Add(time.Hour)}, t0)
	must(t, err)
	if user != "usr_1" {
		t.Fatalf("rotated token lost its user: %q", user)
	}
	// Expired and revoked tokens do not rotate.
	_, err = s.RotateRefresh(ctx, tenancy.HashSecret("rt_4"), tenancy.RefreshToken{Hash: tenancy.HashSecret("rt_5")}, t0.Add(2*time.Hour))
	wantErr(t, err, tenancy.ErrInvalidToken)
	must(t, s.RevokeRefresh(ctx, tenancy.HashSecret("rt_4")))
	_, err = s.RotateRefresh(ctx, tenancy.HashSecret("rt_4"), tenancy.RefreshToken{Hash: tenancy.HashSecret("rt_6")}, t0)
	wantErr(t, err, tenancy.ErrInvalidToken)
	wantErr(t, s.RevokeRefresh(ctx, tenancy.HashSecret("rt_unknown")), tenancy.ErrInvalidToken)
	_, err = s.RotateRefresh(ctx, tenancy.HashSecret("rt_unknown"), tenancy.RefreshToken{Hash: tenancy.HashSecret("rt_7")}, t0)
	wantErr(t, err, tenancy.ErrInvalidToken)
}

func reservation(tenantID string, at time.Time) tenancy.Reservation {
	return tenancy.Reservation{TenantID: tenantID, KeyID: "k", Day: tenancy.Day(at), Month: tenancy.Month(at), Counted: true, At: at}
}

var errRefused = errors.New("refused")

func testReserveSettle(t *testing.T, s tenancy.Store) {
	ctx := context.Background()
	tn := tenant("a", tenancy.TierFree)
	must(t, s.CreateTenant(ctx, tn))
	other := tenant("b", tenancy.TierFree)
	must(t, s.CreateTenant(ctx, other))
	ok := func(tenancy.Tenant, tenancy.Counters) error { return nil }
	_, _, err := s.Reserve(ctx, reservation(tenancy.NewID(), t0), ok)
	wantErr(t, err, tenancy.ErrNotFound)

	// Two days in March, one in February: the month sums March only.
	for i, at := range []time.Time{t0.AddDate(0, -1, 0), t0.AddDate(0, 0, -1), t0, t0} {
		got, c, err := s.Reserve(ctx, reservation(tn.ID, at), ok)
		must(t, err)
		if got.ID != tn.ID || got.Tier != tenancy.TierFree {
			t.Fatalf("reserve %d: tenant %+v", i, got)
		}
		if i == 3 && (c.DayRuns != 1 || c.MonthRuns != 2 || c.MonthTokens != 100) {
			t.Fatalf("counters before the 4th reservation %+v", c)
		}
		c, err = s.Settle(ctx, tenancy.Settlement{TenantID: tn.ID, Day: tenancy.Day(at), Month: tenancy.Month(at), Tokens: 50})
		must(t, err)
		if i == 3 && (c.MonthRuns != 3 || c.MonthTokens != 150 || c.DayRuns != 2) {
			t.Fatalf("counters after settle %+v", c)
		}
	}
	// A refusal counts an api call, not a run.
	_, c, err := s.Reserve(ctx, reservation(tn.ID, t0), func(_ tenancy.Tenant, c tenancy.Counters) error {
		if c.DayRuns != 2 {
			return fmt.Errorf("admit saw %d runs today, want 2", c.DayRuns)
		}
		return errRefused
	})
	wantErr(t, err, errRefused)
	if c.DayRuns != 2 {
		t.Fatalf("counters %+v", c)
	}
	// An uncounted call (usage, key listing) is an api call only.
	r := reservation(tn.ID, t0)
	r.Counted = false
	_, _, err = s.Reserve(ctx, r, ok)
	must(t, err)
	// A refund gives the run back but keeps tokens.
	_, _, err = s.Reserve(ctx, reservation(tn.ID, t0), ok)
	must(t, err)
	c, err = s.Settle(ctx, tenancy.Settlement{TenantID: tn.ID, Day: tenancy.Day(t0), Month: tenancy.Month(t0), Refund: true})
	must(t, err)
	if c.DayRuns != 2 || c.MonthRuns != 3 {
		t.Fatalf("after refund %+v", c)
	}
	days, err := s.Usage(ctx, tn.ID, "2026-03-01", "2026-03-31")
	must(t, err)
	want := []tenancy.DailyUsage{{Date: "2026-03-13", Runs: 2, Tokens: 100, APICalls: 5}, {Date: "2026-03-12", Runs: 1, Tokens: 50, APICalls: 1}}
	if fmt.Sprint(days) != fmt.Sprint(want) {
		t.Fatalf("usage %+v, want %+v", days, want)
	}
	days, _ = s.Usage(ctx, tn.ID, "2026-03-13", "2026-03-13")
	if len(days) != 1 {
		t.Fatalf("one day: %+v", days)
	}
	tot, err := s.TotalUsage(ctx, tn.ID)
	must(t, err)
	if tot.Runs != 4 || tot.Tokens != 200 || tot.APICalls != 7 {
		t.Fatalf("total %+v", tot)
	}
	// Isolation: the other tenant has nothing.
	if days, _ := s.Usage(ctx, other.ID, "0000-01-01", "9999-12-31"); len(days) != 0 {
		t.Fatalf("other tenant sees %+v", days)
	}
	_, _, err = s.Reserve(ctx, reservation(other.ID, t0), ok)
	must(t, err)
	dt, err := s.DayTotals(ctx, "2026-03-13")
	must(t, err)
	if dt.Runs != 3 || dt.Tokens != 100 {
		t.Fatalf("day totals %+v", dt)
	}
}

func testIdempotency(t *testing.T, s tenancy.Store) {
	ctx := context.Background()
	tn := tenant("a", tenancy.TierFree)
	must(t, s.CreateTenant(ctx, tn))
	ok := func(tenancy.Tenant, tenancy.Counters) error { return nil }
	r := reservation(tn.ID, t0)
	r.IdempotencyKey = "retry-1"
	_, c, err := s.Reserve(ctx, r, ok)
	must(t, err)
	if c.Replay {
		t.Fatal("first use is a replay")
	}
	_, c, err = s.Reserve(ctx, r, ok)
	must(t, err)
	if !c.Replay || c.DayRuns != 1 {
		t.Fatalf("retry: %+v", c)
	}
	// The same key of another tenant is its own.
	o := tenant("b", tenancy.TierFree)
	must(t, s.CreateTenant(ctx, o))
	ro := reservation(o.ID, t0)
	ro.IdempotencyKey = "retry-1"
	if _, c, _ := s.Reserve(ctx, ro, ok); c.Replay {
		t.Fatal("idempotency key shared across tenants")
	}
	// After a refund the key bills again.
	_, err = s.Settle(ctx, tenancy.Settlement{TenantID: tn.ID, Day: r.Day, Month: r.Month, Refund: true, IdempotencyKey: "retry-1"})
	must(t, err)
	_, c, err = s.Reserve(ctx, r, ok)
	must(t, err)
	if c.Replay || c.DayRuns != 0 {
		t.Fatalf("after refund: %+v", c)
	}
	// A day later the key is forgotten.
	r.At = t0.Add(25 * time.Hour)
	r.Day = tenancy.Day(r.At)
	_, c, err = s.Reserve(ctx, r, ok)
	must(t, err)
	if c.Replay {
		t.Fatal("idempotency key still live after 25 h")
	}
}

func testConcurrentReserve(t *testing.T, s tenancy.Store) {
	ctx := context.Background()
	tn := tenant("a", tenancy.TierFree)
	must(t, s.CreateTenant(ctx, tn))
	var admitted atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := s.Reserve(ctx, reservation(tn.ID, t0), func(_ tenancy.Tenant, c tenancy.Counters) error {
				if c.DayRuns >= 10 {
					return errRefused
				}
				return nil
			})
			switch {
			case err == nil:
				admitted.Add(1)
			case !errors.Is(err, errRefused):
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := admitted.Load(); n != 10 {
		t.Fatalf("%d of 50 admitted against 10 remaining", n)
	}
	days, _ := s.Usage(ctx, tn.ID, "2026-03-13", "2026-03-13")
	if len(days) != 1 || days[0].Runs != 10 || days[0].APICalls != 50 {
		t.Fatalf("usage %+v", days)
	}
}

func testAudit(t *testing.T, s tenancy.Store) {
	ctx := context.Background()
	for i := range 5 {
		must(t, s.AddAudit(ctx, tenancy.AuditEntry{ID: tenancy.NewID(), Action: fmt.Sprintf("a%d", i), Actor: "admin",
			Details: map[string]any{"n": float64(i)}, Timestamp: t0.Add(time.Duration(i) * time.Second)}))
	}
	got, err := s.Audit(ctx, 3)
	must(t, err)
	if len(got) != 3 || got[0].Action != "a4" || got[2].Action != "a2" || got[0].Details["n"] != float64(4) || got[0].Actor != "admin" {
		t.Fatalf("audit %+v", got)
	}
	all, _ := s.Audit(ctx, 0)
	if len(all) != 5 {
		t.Fatalf("%d entries", len(all))
	}
}

func testAlerts(t *testing.T, s tenancy.Store) {
	ctx := context.Background()
	a := tenancy.Alert{ID: tenancy.NewID(), Kind: "quota:x:tokens:80", Severity: "warning", Message: "m1", TenantID: "x", CreatedAt: t0}
	stored, err := s.RaiseAlert(ctx, a)
	must(t, err)
	if !stored {
		t.Fatal("first alert not stored")
	}
	dup := a
	dup.ID = tenancy.NewID()
	if stored, _ := s.RaiseAlert(ctx, dup); stored {
		t.Fatal("alert of the same kind stored twice")
	}
	c := tenancy.Alert{ID: tenancy.NewID(), Kind: "quota:x:tokens:90", Severity: "critical", Message: "m2", TenantID: "x", CreatedAt: t0.Add(time.Second)}
	_, err = s.RaiseAlert(ctx, c)
	must(t, err)
	all, err := s.Alerts(ctx, tenancy.AlertFilter{})
	must(t, err)
	if len(all) != 2 || all[0].ID != c.ID {
		t.Fatalf("alerts %+v", all)
	}
	crit, _ := s.Alerts(ctx, tenancy.AlertFilter{Severity: "critical"})
	if len(crit) != 1 || crit[0].ID != c.ID {
		t.Fatalf("critical %+v", crit)
	}
	res, err := s.ResolveAlert(ctx, a.ID, t0.Add(time.Minute))
	must(t, err)
	if !res.Resolved || !res.ResolvedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("resolved %+v", res)
	}
	f := false
	open, _ := s.Alerts(ctx, tenancy.AlertFilter{Resolved: &f})
	if len(open) != 1 || open[0].ID != c.ID {
		t.Fatalf("unresolved %+v", open)
	}
	lim, _ := s.Alerts(ctx, tenancy.AlertFilter{Limit: 1})
	if len(lim) != 1 {
		t.Fatalf("limit: %d", len(lim))
	}
	_, err = s.ResolveAlert(ctx, tenancy.NewID(), t0)
	wantErr(t, err, tenancy.ErrNotFound)
}
