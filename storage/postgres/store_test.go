package postgres

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/aria-node/aria/rag"
	ragstoretest "github.com/aria-node/aria/rag/storetest"
	"github.com/aria-node/aria/storage/postgres/pgtest"
	"github.com/aria-node/aria/tenancy"
	"github.com/aria-node/aria/tenancy/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func open(t *testing.T, url string) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStoreSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tenancy.Store { return open(t, pgtest.URL(t)) })
}

// Two stores on one database (two gateways) apply the schema once and see each other.
func TestSharedDatabase(t *testing.T) {
	url := pgtest.URL(t)
	a, b := open(t, url), open(t, url)
	ctx := context.Background()
	tn := tenancy.Tenant{ID: tenancy.NewID(), Name: "shared", Tier: tenancy.TierPro, CreatedAt: time.Now().UTC()}
	if err := a.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Tenant(ctx, tn.ID); err != nil || got.Name != "shared" {
		t.Fatalf("%+v %v", got, err)
	}
	var v int
	if err := a.pool.QueryRow(ctx, `SELECT count(*) FROM ares_schema`).Scan(&v); err != nil || v != len(migrations) {
		t.Fatalf("schema rows %d %v", v, err)
	}
}

// A database that is down is ErrUnavailable (a 503 upstream), never a grant.
func TestDatabaseDown(t *testing.T) {
	s := open(t, pgtest.URL(t))
	s.Close()
	_, err := s.KeyByHash(context.Background(), []byte("x"))
	if err == nil || errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("closed pool: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := Open(ctx, "postgres://aria:secretpw@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"); err == nil {
		t.Fatal("opened a database that is not there")
	} else if strings := err.Error(); contains(strings, "secretpw") {
		t.Fatalf("password in error: %v", err)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestRAGStoreSuite(t *testing.T) {
	ragstoretest.Run(t, func(t *testing.T) rag.Store { return open(t, pgtest.URL(t)).RAG() })
}
