package bolt

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/aria-node/aria/tenancy"
	"github.com/aria-node/aria/tenancy/storetest"
)

// openDB opens the database at path with the node's own Open; it is closed when the
// test ends (a test may close it sooner, to reopen it).
func openDB(t *testing.T, path string) *bbolt.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openTenancy(t *testing.T, path string) (*TenancyStore, *bbolt.DB) {
	t.Helper()
	db := openDB(t, path)
	s, err := NewTenancyStore(db)
	if err != nil {
		t.Fatal(err)
	}
	return s, db
}

func TestTenancyStoreSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tenancy.Store {
		s, _ := openTenancy(t, filepath.Join(t.TempDir(), "aria.db"))
		return s
	})
}

// Counters survive a restart: they are written in the admission transaction.
func TestTenancyCountersSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aria.db")
	s, db := openTenancy(t, path)
	ctx := context.Background()
	tn := tenancy.Tenant{ID: tenancy.NewID(), Name: "a", Tier: tenancy.TierFree, CreatedAt: time.Now()}
	if err := s.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r := tenancy.Reservation{TenantID: tn.ID, Day: tenancy.Day(now), Month: tenancy.Month(now), Counted: true, At: now}
	if _, _, err := s.Reserve(ctx, r, func(tenancy.Tenant, tenancy.Counters) error { return nil }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// A closed database is an error, not a panic.
	if _, err := s.Tenant(ctx, tn.ID); err == nil {
		t.Fatal("read from a closed database succeeded")
	}
	s, db = openTenancy(t, path)
	defer db.Close()
	_, c, err := s.Reserve(ctx, r, func(tenancy.Tenant, tenancy.Counters) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if c.DayRuns != 1 {
		t.Fatalf("runs after reopen %d, want 1", c.DayRuns)
	}
}
