package energy

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	ledgerBucket = []byte("energy_ledger") // sequence (big endian) → Record JSON
	totalsBucket = []byte("energy_totals") // method → MethodTotals JSON; "since" → RFC 3339
	sinceKey     = []byte("since")
)

// Ledger keeps every inference's record in the node's bbolt database, with lifetime
// totals updated in the same transaction, so both survive restarts and agree.
type Ledger struct {
	db *bolt.DB
}

// MethodTotals are lifetime totals of the inferences measured by one method.
type MethodTotals struct {
	Inferences int64   `json:"inferences"`
	Tokens     int64   `json:"tokens"`
	EnergyMJ   float64 `json:"energy_mj"`
}

// Lifetime are totals across every session the ledger has seen.
type Lifetime struct {
	Since    time.Time
	ByMethod map[string]MethodTotals
}

// Totals sums over methods.
func (l Lifetime) Totals() MethodTotals {
	var t MethodTotals
	for _, m := range l.ByMethod {
		t.Inferences += m.Inferences
		t.Tokens += m.Tokens
		t.EnergyMJ += m.EnergyMJ
	}
	return t
}

// OpenLedger creates the ledger's buckets in db (the caller owns db).
func OpenLedger(db *bolt.DB) (*Ledger, error) {
	err := db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(ledgerBucket); err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(totalsBucket)
		if err != nil {
			return err
		}
		if b.Get(sinceKey) == nil {
			return b.Put(sinceKey, []byte(time.Now().UTC().Format(time.RFC3339)))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("energy ledger: %w", err)
	}
	return &Ledger{db: db}, nil
}

// Append stores r durably (the call returns after the transaction is on disk).
// Concurrent appends are coalesced into one transaction by bbolt's Batch.
func (l *Ledger) Append(r Record) error {
	val, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return l.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(ledgerBucket)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		var key [8]byte
		binary.BigEndian.PutUint64(key[:], seq)
		if err := b.Put(key[:], val); err != nil {
			return err
		}
		tb := tx.Bucket(totalsBucket)
		var t MethodTotals
		if v := tb.Get([]byte(r.Method)); v != nil {
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("energy totals for %q: %w", r.Method, err)
			}
		}
		t.Inferences++
		t.Tokens += int64(r.Tokens)
		t.EnergyMJ += r.EnergyMJ
		tv, _ := json.Marshal(t)
		return tb.Put([]byte(r.Method), tv)
	})
}

// Lifetime returns the totals since the ledger was created.
func (l *Ledger) Lifetime() (Lifetime, error) {
	lt := Lifetime{ByMethod: map[string]MethodTotals{}}
	err := l.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(totalsBucket).ForEach(func(k, v []byte) error {
			if string(k) == string(sinceKey) {
				t, err := time.Parse(time.RFC3339, string(v))
				if err != nil {
					return fmt.Errorf("energy ledger start time: %w", err)
				}
				lt.Since = t
				return nil
			}
			var t MethodTotals
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("energy totals for %q: %w", k, err)
			}
			lt.ByMethod[string(k)] = t
			return nil
		})
	})
	return lt, err
}

// Recent returns up to n of the newest records, oldest first.
func (l *Ledger) Recent(n int) ([]Record, error) {
	var out []Record
	err := l.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(ledgerBucket).Cursor()
		for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("energy ledger record %x: %w", k, err)
			}
			out = append(out, r)
		}
		return nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}

// Count is how many records the ledger holds.
func (l *Ledger) Count() (int, error) {
	var n int
	err := l.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(ledgerBucket)
		if b == nil {
			return errors.New("energy ledger bucket missing")
		}
		n = b.Stats().KeyN
		return nil
	})
	return n, err
}
