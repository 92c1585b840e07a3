package energy

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func openDB(t testing.TB, path string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestLedgerSurvivesReopenAndKeepsMethodsApart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aria.db")
	db := openDB(t, path)
	l, err := OpenLedger(db)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Append(Record{Time: time.Unix(int64(i), 0), EnergyMJ: 10, Tokens: 5, Model: "m", Method: MethodCPUTime}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := l.Append(Record{Time: time.Unix(100, 0), EnergyMJ: 1, Tokens: 1, Model: "m", Method: MethodRAPL}); err != nil {
		t.Fatal(err)
	}
	lt0, _ := l.Lifetime()
	db.Close()

	db = openDB(t, path)
	defer db.Close()
	l, err = OpenLedger(db)
	if err != nil {
		t.Fatal(err)
	}
	lt, err := l.Lifetime()
	if err != nil {
		t.Fatal(err)
	}
	cpu := lt.ByMethod[MethodCPUTime]
	if cpu.Inferences != 20 || cpu.Tokens != 100 || cpu.EnergyMJ != 200 {
		t.Fatalf("cpu_time totals after reopen: %+v", cpu)
	}
	if r := lt.ByMethod[MethodRAPL]; r.Inferences != 1 || r.EnergyMJ != 1 {
		t.Fatalf("rapl totals: %+v", r)
	}
	if all := lt.Totals(); all.Inferences != 21 || all.Tokens != 101 {
		t.Fatalf("sum: %+v", all)
	}
	if !lt.Since.Equal(lt0.Since) || lt.Since.IsZero() {
		t.Fatalf("since changed on reopen: %v vs %v", lt0.Since, lt.Since)
	}
	recent, err := l.Recent(3)
	if err != nil || len(recent) != 3 || recent[2].Method != MethodRAPL {
		t.Fatalf("recent: %+v %v", recent, err)
	}
	if n, _ := l.Count(); n != 21 {
		t.Fatalf("count %d", n)
	}
}

func TestTrackerRecordsSessionAndLedger(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "aria.db"))
	defer db.Close()
	l, _ := OpenLedger(db)
	c := &stepCounter{}
	tr := NewTracker(NewMeter(c), l, DefaultReferences())
	x := tr.Begin()
	c.j += 0.5
	rec, err := tr.Finish(x, Record{Tokens: 10, Model: "m"})
	if err != nil || rec.EnergyMJ != 500 || rec.Method != "test" {
		t.Fatalf("finish: %+v %v", rec, err)
	}
	rep, err := tr.Report()
	if err != nil {
		t.Fatal(err)
	}
	if rep.Inferences != 1 || rep.EnergyMJ != 500 || rep.Lifetime == nil || rep.Lifetime.Totals().EnergyMJ != 500 {
		t.Fatalf("report: %+v", rep)
	}
	if rep.Savings.VsGPU.EnergySavedMJ != 10*5625-500 {
		t.Fatalf("savings: %+v", rep.Savings)
	}
}

// FuzzLedgerOnDisk stores arbitrary bytes where the ledger keeps a record and its
// totals (a damaged or foreign database): reading them is an error or a value,
// never a panic.
func FuzzLedgerOnDisk(f *testing.F) {
	f.Add([]byte(`{"time":"2026-11-24T00:00:00Z","energy_mj":1.5,"tokens":3,"model":"m","method":"cpu_time"}`), []byte(`{"inferences":1,"tokens":3,"energy_mj":1.5}`))
	f.Add([]byte(`{"time":5}`), []byte(`[]`))
	f.Add([]byte{0xff, 0x00}, []byte(`{"energy_mj":"x"}`))
	db := openDB(f, filepath.Join(f.TempDir(), "aria.db"))
	f.Cleanup(func() { db.Close() })
	l, err := OpenLedger(db)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, record, totals []byte) {
		err := db.Update(func(tx *bolt.Tx) error {
			if err := tx.Bucket(ledgerBucket).Put([]byte("k"), record); err != nil {
				return err
			}
			return tx.Bucket(totalsBucket).Put([]byte("m"), totals)
		})
		if err != nil {
			t.Fatal(err)
		}
		if recs, err := l.Recent(5); err == nil && len(recs) == 0 {
			t.Fatal("a stored record read as nothing without an error")
		}
		l.Lifetime()
	})
}
