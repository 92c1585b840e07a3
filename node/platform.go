package node

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/aria-node/aria/ares"
	"github.com/aria-node/aria/storage/bolt"
	"github.com/aria-node/aria/storage/postgres"
	"github.com/aria-node/aria/tenancy"
)

// PlatformConfig configures the ARES platform layer on the API port.
type PlatformConfig struct {
	// Auth requires tenant keys on /v1/* and a JWT or key on /api/*. It is on whenever
	// the API binds a non-loopback address.
	Auth bool
	// DatabaseURL (postgres://…) keeps the platform in PostgreSQL, shared by gateways;
	// default: bbolt buckets in the data dir's aria.db.
	DatabaseURL string
	// IPRequestsPerMinute limits each client address on every route; 0 is no limit.
	IPRequestsPerMinute int
}

// OpenPlatformStore opens the platform's store: PostgreSQL for a DATABASE_URL, else
// buckets in db (which the caller keeps owning).
func OpenPlatformStore(ctx context.Context, databaseURL string, db *bbolt.DB) (tenancy.Store, error) {
	if databaseURL != "" {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return postgres.Open(ctx, databaseURL)
	}
	return bolt.NewTenancyStore(db)
}

// AuthRequired reports whether an API bound to host must require keys.
func AuthRequired(auth bool, host string) bool {
	if auth {
		return true
	}
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// startPlatform opens the platform store and loads its secrets (from the environment,
// or generated 0600 files in the data dir; only paths are logged).
func (n *Node) startPlatform(ctx context.Context) error {
	pc := n.cfg.Platform
	admin, err := tenancy.LoadSecret(n.log, "admin secret", filepath.Join(n.cfg.DataDir, "admin.secret"), 16, "ARIA_ADMIN_SECRET", "API_KEY")
	if err != nil {
		return err
	}
	jwt, err := tenancy.LoadSecret(n.log, "JWT secret", filepath.Join(n.cfg.DataDir, "jwt.secret"), 32, "ARIA_JWT_SECRET", "JWT_SECRET")
	if err != nil {
		return err
	}
	st, err := OpenPlatformStore(ctx, pc.DatabaseURL, n.db)
	if err != nil {
		return fmt.Errorf("platform store: %w", err)
	}
	required := AuthRequired(pc.Auth, n.cfg.Host)
	svc := tenancy.NewService(st, tenancy.Options{Now: n.cfg.Now, Logger: n.log, JWTSecret: []byte(jwt)})
	p := ares.New(ares.Config{Service: svc, Required: required, AdminSecret: admin, IPRequestsPerMinute: pc.IPRequestsPerMinute, Logger: n.log})
	n.platformStore, n.access = st, p.Wrap
	backend := "bbolt"
	if pc.DatabaseURL != "" {
		backend = "postgresql"
	}
	n.log.Info("platform", "auth_required", required, "store", backend, "ip_requests_per_minute", pc.IPRequestsPerMinute)
	return nil
}

func (n *Node) stopPlatform() error {
	if n.platformStore == nil {
		return nil
	}
	err := n.platformStore.Close()
	n.platformStore = nil
	return err
}

// accessLayer is what the API server wraps its routes with (nil: none).
func (n *Node) accessLayer() func(http.Handler) http.Handler { return n.access }
