package ares

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aria-node/aria/storage/bolt"
	"github.com/aria-node/aria/tenancy"
)

// BenchmarkAccessLayer prints the latency auth + metering add to a request (p50/p99
// over sequential calls of a no-op endpoint, in process) and the calls/s the layer
// passes with 8 concurrent callers, for bbolt and PostgreSQL:
//
//	go test -run '^$' -bench AccessLayer -benchtime 1x ./ares/
func BenchmarkAccessLayer(b *testing.B) {
	b.Run("bbolt", func(b *testing.B) {
		st, err := bolt.NewTenancyStore(tempBolt(b))
		if err != nil {
			b.Fatal(err)
		}
		benchLayer(b, st)
	})
	b.Run("postgres", func(b *testing.B) { benchLayer(b, openPG(b)) })
}

func benchLayer(b *testing.B, st tenancy.Store) {
	ctx := context.Background()
	svc := tenancy.NewService(st, tenancy.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t, err := svc.CreateTenant(ctx, "bench", "bench", "enterprise")
	if err != nil {
		b.Fatal(err)
	}
	_, secret, err := svc.CreateKey(ctx, "bench", t.ID, "k", 0)
	if err != nil {
		b.Fatal(err)
	}
	noop := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}"))
	})
	layered := New(Config{Service: svc, Required: true, AdminSecret: "x", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Wrap(noop)
	call := func(h http.Handler) time.Duration {
		r := httptest.NewRequest("GET", "/v1/noop", nil)
		r.Header.Set("Authorization", "Bearer "+secret)
		w := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(w, r)
		d := time.Since(start)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		return d
	}
	const n = 2000
	bare, with := make([]time.Duration, 0, n), make([]time.Duration, 0, n)
	for range 50 { // warm up
		call(layered)
	}
	for range n {
		bare = append(bare, call(noop))
		with = append(with, call(layered))
	}
	slices.Sort(bare)
	slices.Sort(with)
	pct := func(d []time.Duration, p float64) time.Duration { return d[int(float64(len(d)-1)*p)] }
	p50, p99 := pct(with, 0.50)-pct(bare, 0.50), pct(with, 0.99)-pct(bare, 0.99)

	// Throughput: 8 callers for 2 s.
	var done atomic.Int64
	stop := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				call(layered)
				done.Add(1)
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	rps := float64(done.Load()) / time.Since(start).Seconds()
	b.ReportMetric(float64(p50.Microseconds())/1000, "added-p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "added-p99-ms")
	b.ReportMetric(rps, "calls/s")
	fmt.Printf("access layer %-8s added latency p50 %.2f ms, p99 %.2f ms (%d sequential calls); %.0f calls/s with 8 callers on a no-op endpoint\n",
		b.Name()[len("BenchmarkAccessLayer/"):], float64(p50.Microseconds())/1000, float64(p99.Microseconds())/1000, n, rps)
	u, _ := svc.Usage(ctx, t.ID)
	if u.TotalRuns < n {
		b.Fatalf("only %d runs metered", u.TotalRuns)
	}
}
