package bolt

import (
	"path/filepath"
	"testing"

	"github.com/aria-node/aria/rag"
	"github.com/aria-node/aria/rag/storetest"
)

func TestRAGStoreSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) rag.Store {
		s, err := NewRAGStore(openDB(t, filepath.Join(t.TempDir(), "aria.db")))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
