package bolt

import (
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/aria-node/aria/agents"
	"github.com/aria-node/aria/agents/storetest"
)

func TestAgentsStoreSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (agents.Store, func(string)) {
		db, err := bbolt.Open(filepath.Join(t.TempDir(), "aria.db"), 0o600, &bbolt.Options{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s, err := NewAgentsStore(db)
		if err != nil {
			t.Fatal(err)
		}
		return s, func(string) {} // without tenancy's buckets no tenant check applies
	})
}
