package node

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aria-node/aria/energy"
	boltstore "github.com/aria-node/aria/storage/bolt"
)

// A damaged aria.db stops the node at start with advice, and is left as it was:
// before, a truncated file crashed the scheduler's first tick (SIGSEGV) and a 0-byte
// one was silently re-created empty.
func TestStartRefusesADamagedDatabase(t *testing.T) {
	// A real database with content, written by a node that ran.
	src := t.TempDir()
	n := startTestNode(t, src, func(c *Config) { c.Models = []string{NoModel} })
	stopTestNode(t, n)
	whole, err := os.ReadFile(filepath.Join(src, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{
		"empty":     {},
		"truncated": whole[:len(whole)/2],
		"garbage":   bytes.Repeat([]byte{0xA5}, len(whole)),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, DBFile)
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			n := New(Config{DataDir: dir, APIPort: -1, Models: []string{NoModel}, Progress: io.Discard,
				EnergyMeter: energy.MeterOptions{Method: energy.MethodCPUTime}, Consent: &fullCPU,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Peers: PeerConfig{Disabled: true}})
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			err := n.Start(ctx)
			if err == nil {
				stopTestNode(t, n)
				t.Fatal("the node started on a damaged database")
			}
			if !errors.Is(err, boltstore.ErrDamaged) {
				t.Fatalf("want ErrDamaged, got %v", err)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(after, content) {
				t.Fatalf("the damaged file was changed (%d bytes, was %d)", len(after), len(content))
			}
		})
	}
}
