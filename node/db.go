package node

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DBFile is the node's database in its data dir: intentions, the energy ledger.
const DBFile = "aria.db"

// openDB opens the data dir's database. bbolt holds an exclusive file lock, so a second
// node on the same data dir fails here with a clear error instead of waiting.
func openDB(dataDir string) (*bolt.DB, error) {
	path := filepath.Join(dataDir, DBFile)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("database %s is locked: another aria node is using data dir %s (stop it or pass --data-dir)", path, dataDir)
	}
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	return db, nil
}
