package node

import (
	"context"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	boltstore "github.com/aria-node/aria/storage/bolt"
)

// DBFile is the node's database in its data dir: intentions, the energy ledger.
const DBFile = "aria.db"

// openDB opens the data dir's database after checking its file: a damaged or empty
// aria.db is refused with how to recover, never replaced. bbolt holds an exclusive
// file lock, so a second node on the same data dir fails here with a clear error
// instead of waiting.
func openDB(dataDir string) (*bolt.DB, error) {
	// No deadline: the lock is waited for 2 s, the check itself is not cut short.
	return boltstore.Open(context.Background(), filepath.Join(dataDir, DBFile))
}
