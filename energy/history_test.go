package energy

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestHistoryBucketsRecordsInRange(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "aria.db"))
	defer db.Close()
	l, err := OpenLedger(db)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, r := range []Record{
		{Time: base.Add(-time.Hour), EnergyMJ: 1000, Tokens: 100, Method: MethodCPUTime}, // before the range
		{Time: base.Add(30 * time.Second), EnergyMJ: 10, Tokens: 5, PromptTokens: 3, Method: MethodCPUTime},
		{Time: base.Add(50 * time.Second), EnergyMJ: 20, Tokens: 7, PromptTokens: 1, Method: MethodCPUTime},
		{Time: base.Add(2*time.Minute + time.Second), EnergyMJ: 4, Tokens: 2, Method: MethodRAPL},
		{Time: base.Add(3 * time.Minute), EnergyMJ: 500, Tokens: 50, Method: MethodCPUTime}, // at to: excluded
		{Time: base.Add(5 * time.Second), EnergyMJ: 1, Tokens: 1, Method: MethodCPUTime},    // appended late, still counted
	} {
		if err := l.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := l.History(base, base.Add(3*time.Minute), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d buckets, want 3: %+v", len(got), got)
	}
	want := []Bucket{
		{Start: base, Inferences: 3, Tokens: 13, PromptTokens: 4, EnergyMJ: 31},
		{Start: base.Add(time.Minute)},
		{Start: base.Add(2 * time.Minute), Inferences: 1, Tokens: 2, EnergyMJ: 4},
	}
	for i := range want {
		if !got[i].Start.Equal(want[i].Start) || got[i].Inferences != want[i].Inferences || got[i].Tokens != want[i].Tokens ||
			got[i].PromptTokens != want[i].PromptTokens || got[i].EnergyMJ != want[i].EnergyMJ {
			t.Errorf("bucket %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	// A partial last step is a whole bucket.
	got, err = l.History(base, base.Add(150*time.Second), time.Minute)
	if err != nil || len(got) != 3 || got[2].Inferences != 1 {
		t.Fatalf("partial last step: %+v %v", got, err)
	}
}

func TestHistoryRefusesBadRanges(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "aria.db"))
	defer db.Close()
	l, _ := OpenLedger(db)
	now := time.Now()
	for name, c := range map[string]struct {
		from, to time.Time
		step     time.Duration
	}{
		"reversed":      {now, now.Add(-time.Hour), time.Minute},
		"empty":         {now, now, time.Minute},
		"zero step":     {now.Add(-time.Hour), now, 0},
		"sub-second":    {now.Add(-time.Hour), now, time.Millisecond},
		"too many":      {now.Add(-24 * time.Hour), now, time.Second},
		"missing start": {time.Time{}, now, time.Minute},
	} {
		if _, err := l.History(c.from, c.to, c.step); !errors.Is(err, ErrBadRange) {
			t.Errorf("%s: err = %v, want ErrBadRange", name, err)
		}
	}
}

// BenchmarkHistory sums a day of a ledger holding 100,000 inferences (one every 3.6 s
// over 100 hours) into 120 steps: the dashboard's default chart.
func BenchmarkHistory(b *testing.B) {
	db := openDB(b, filepath.Join(b.TempDir(), "aria.db"))
	defer db.Close()
	l, _ := OpenLedger(db)
	end := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	const n = 100_000
	err := db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(ledgerBucket)
		for i := range n {
			r := Record{Time: end.Add(-time.Duration(n-i) * 3600 * time.Millisecond), EnergyMJ: 50, Tokens: 20, Method: MethodCPUTime}
			v, _ := json.Marshal(r)
			seq, _ := bk.NextSequence()
			var key [8]byte
			binary.BigEndian.PutUint64(key[:], seq)
			if err := bk.Put(key[:], v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		got, err := l.History(end.Add(-24*time.Hour), end, 12*time.Minute)
		if err != nil || len(got) != 120 {
			b.Fatal(len(got), err)
		}
	}
}
