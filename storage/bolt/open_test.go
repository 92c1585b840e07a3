package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bbolt "go.etcd.io/bbolt"
)

// sampleDB writes a real database with nested, inline and overflowing buckets and
// returns its path.
func sampleDB(t testing.TB, records int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "aria.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte("intentions"))
		if err != nil {
			return err
		}
		for i := range records {
			if err := b.Put(fmt.Appendf(nil, "key-%06d", i), bytes.Repeat([]byte{byte(i)}, 200)); err != nil {
				return err
			}
		}
		if err := b.Put([]byte("big"), bytes.Repeat([]byte("x"), 20000)); err != nil { // overflow pages
			return err
		}
		sub, err := b.CreateBucket([]byte("nested"))
		if err != nil {
			return err
		}
		if err := sub.Put([]byte("k"), []byte("v")); err != nil { // an inline bucket
			return err
		}
		_, err = tx.CreateBucket([]byte("empty"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOpenAcceptsAWholeDatabase(t *testing.T) {
	path := sampleDB(t, 2000)
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("a whole database was refused: %v", err)
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket([]byte("intentions")).Get([]byte("key-001999")); len(v) != 200 {
			return fmt.Errorf("record lost: %d bytes", len(v))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenCreatesAMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aria.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("no database created: %v", err)
	}
}

// refused opens path, expects ErrDamaged with recovery advice, and checks the file
// is unchanged.
func refused(t *testing.T, path string) {
	t.Helper()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(context.Background(), path)
	if err == nil {
		db.Close()
		t.Fatal("a damaged database was opened")
	}
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "To recover") {
		t.Fatalf("want ErrDamaged with advice, got: %v", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("the damaged file was changed")
	}
}

func TestOpenRefusesAnEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aria.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	refused(t, path) // bbolt alone would initialise it: every record silently gone
}

func TestOpenRefusesATruncatedFile(t *testing.T) {
	for _, frac := range []float64{0.5, 0.25, 0.01} {
		path := sampleDB(t, 2000)
		fi, _ := os.Stat(path)
		if err := os.Truncate(path, int64(float64(fi.Size())*frac)); err != nil {
			t.Fatal(err)
		}
		t.Logf("truncated to %.0f%%", frac*100)
		refused(t, path) // bbolt alone: SIGSEGV on the first read past the end
	}
}

func TestOpenRefusesDamagedPages(t *testing.T) {
	pristine, err := os.ReadFile(sampleDB(t, 2000))
	if err != nil {
		t.Fatal(err)
	}
	ps := 4096
	pages := len(pristine) / ps
	for _, tc := range []struct {
		name string
		page int
		off  int
	}{
		{"meta 0 and 1", 0, 20}, {"root branch", -1, 0}, {"page header", 3, 0}, {"elements", 5, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			damagedCount := 0
			// Garbage over each page in turn (bounded): every one must be refused or
			// opened cleanly; none may crash.
			for p := 0; p < pages && p < 64; p++ {
				b := bytes.Clone(pristine)
				if tc.page == 0 {
					copy(b[20:], bytes.Repeat([]byte{0xA5}, 40))
					copy(b[ps+20:], bytes.Repeat([]byte{0xA5}, 40))
				} else {
					copy(b[p*ps+tc.off:], bytes.Repeat([]byte{byte(p*7 + 1)}, 64))
				}
				path := filepath.Join(t.TempDir(), "aria.db")
				os.WriteFile(path, b, 0o600)
				db, err := Open(context.Background(), path)
				if err != nil {
					if !errors.Is(err, ErrDamaged) {
						t.Fatalf("page %d: want ErrDamaged, got %v", p, err)
					}
					damagedCount++
					continue
				}
				db.Close()
				if tc.page == 0 {
					t.Fatal("a file with both meta pages destroyed was opened")
				}
			}
			if damagedCount == 0 {
				t.Fatal("no damage was detected")
			}
		})
	}
}

func TestOpenReportsALockedDatabase(t *testing.T) {
	path := sampleDB(t, 10)
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300e6)
	defer cancel()
	_, err = Open(ctx, path)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("want ErrLocked, got %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	whole, err := os.ReadFile(sampleDB(f, 50))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(whole)
	f.Add(whole[:len(whole)/2])
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "fuzz.db")
		os.Remove(path)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := Open(context.Background(), path)
		if err != nil {
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("want ErrDamaged, got %v", err)
			}
			return
		}
		// An accepted file must be usable: read every key and write one.
		err = db.Update(func(tx *bbolt.Tx) error {
			tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
				return b.ForEach(func(k, v []byte) error { return nil })
			})
			_, err := tx.CreateBucketIfNotExists([]byte("fuzz"))
			return err
		})
		db.Close()
		if err != nil {
			t.Logf("accepted file failed a write: %v", err)
		}
	})
}
