package bolt

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/aria-node/aria/rag"
	"github.com/aria-node/aria/rag/storetest"
)

func TestRAGStoreSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) rag.Store {
		db, err := Open(context.Background(), filepath.Join(t.TempDir(), "aria.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s, err := NewRAGStore(db)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
