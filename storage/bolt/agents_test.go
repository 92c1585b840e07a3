package bolt

import (
	"path/filepath"
	"testing"

	"github.com/aria-node/aria/agents"
	"github.com/aria-node/aria/agents/storetest"
)

func TestAgentsStoreSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (agents.Store, func(string)) {
		s, err := NewAgentsStore(openDB(t, filepath.Join(t.TempDir(), "aria.db")))
		if err != nil {
			t.Fatal(err)
		}
		return s, func(string) {} // without tenancy's buckets no tenant check applies
	})
}
