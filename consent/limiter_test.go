package consent

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"sync"
	"testing"
	"time"
)

// virtualClock is the limiter's time: sleeping advances it at once, so tests account for time instead of
// spending it.
type virtualClock struct {
	mu    sync.Mutex
	t     time.Time
	slept time.Duration
	naps  int
}

func (c *virtualClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *virtualClock) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.slept += d
	c.naps++
	return nil
}

func (c *virtualClock) total() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.slept
}

func newVirtual(t *testing.T, mbps float64) (*Limiter, *virtualClock) {
	t.Helper()
	clk := &virtualClock{t: time.Now()}
	l := newLimiter(mbps, clk.now, clk.sleep)
	if l == nil {
		t.Fatalf("newLimiter(%v) = nil", mbps)
	}
	return l, clk
}

// near reports whether the virtual durations agree to a microsecond (float rounding).
func near(got, want time.Duration) bool {
	return math.Abs(float64(got-want)) <= float64(time.Microsecond)
}

func TestLimiterUnlimited(t *testing.T) {
	for _, mbps := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if l := NewLimiter(mbps); l != nil {
			t.Errorf("NewLimiter(%v) = %+v, want nil (unlimited)", mbps, l)
		}
	}
	var l *Limiter
	if err := l.WaitN(context.Background(), 1<<40); err != nil {
		t.Fatal(err)
	}
	r, w := bytes.NewReader(nil), new(bytes.Buffer)
	if l.Reader(context.Background(), r) != io.Reader(r) || l.Writer(context.Background(), w) != io.Writer(w) {
		t.Fatal("a nil Limiter wraps its reader or writer")
	}
	if l.BytesPerSecond() != 0 {
		t.Fatal("nil Limiter has a rate")
	}
}

func TestLimiterBurst(t *testing.T) {
	cases := []struct {
		mbps        float64
		rate, burst float64
	}{
		{8, 1e6, 1e5},          // 100 ms of 1 MB/s
		{1, 125000, 64 << 10},  // 100 ms is 12.5 kB: the 64 KiB floor
		{0.01, 1250, 64 << 10}, // slow links still pass a frame
	}
	for _, c := range cases {
		l, _ := newVirtual(t, c.mbps)
		if l.rate != c.rate || l.burst != c.burst || l.BytesPerSecond() != c.rate {
			t.Errorf("%v Mbps: rate %v burst %v, want %v and %v", c.mbps, l.rate, l.burst, c.rate, c.burst)
		}
	}
}

func TestLimiterAccounting(t *testing.T) {
	ctx := context.Background()
	l, clk := newVirtual(t, 8) // 1 MB/s, burst 100 kB
	// The burst passes without waiting.
	for range 100 {
		if err := l.WaitN(ctx, 1000); err != nil {
			t.Fatal(err)
		}
	}
	if clk.total() != 0 {
		t.Fatalf("the burst waited %v", clk.total())
	}
	// The next megabyte takes one virtual second, however it is cut.
	for range 1000 {
		if err := l.WaitN(ctx, 1000); err != nil {
			t.Fatal(err)
		}
	}
	if !near(clk.total(), time.Second) {
		t.Fatalf("1 MB at 1 MB/s after the burst took %v of virtual time, want 1s", clk.total())
	}
	// One request larger than the burst passes, paying its debt.
	if err := l.WaitN(ctx, 500000); err != nil {
		t.Fatal(err)
	}
	if !near(clk.total(), 1500*time.Millisecond) {
		t.Fatalf("total %v, want 1.5s", clk.total())
	}
	// Idle time refills the bucket up to the burst, not beyond.
	clk.mu.Lock()
	clk.t = clk.t.Add(time.Hour)
	clk.mu.Unlock()
	before := clk.total()
	if err := l.WaitN(ctx, 100000); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitN(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	if got := clk.total() - before; !near(got, time.Millisecond) {
		t.Fatalf("after an idle hour, burst+1 kB waited %v, want 1ms", got)
	}
}

func TestLimiterDeadlineTooSoon(t *testing.T) {
	l, clk := newVirtual(t, 8)
	ctx, cancel := context.WithDeadline(context.Background(), clk.now().Add(100*time.Millisecond))
	defer cancel()
	// 300 kB needs 200 ms beyond the burst: more than the deadline allows.
	if err := l.WaitN(ctx, 300000); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitN = %v, want DeadlineExceeded", err)
	}
	if clk.total() != 0 {
		t.Fatalf("waited %v for a budget it could not meet", clk.total())
	}
	// Nothing was taken: the whole burst is still there.
	if err := l.WaitN(context.Background(), 100000); err != nil || clk.total() != 0 {
		t.Fatalf("burst after a refused WaitN: err %v, waited %v", err, clk.total())
	}
}

func TestLimiterCancelGivesBack(t *testing.T) {
	clk := &virtualClock{t: time.Now()}
	ctx, cancel := context.WithCancel(context.Background())
	interrupted := func(ctx context.Context, d time.Duration) error {
		cancel() // the caller gives up while waiting
		return ctx.Err()
	}
	l := newLimiter(8, clk.now, interrupted)
	if err := l.WaitN(ctx, 150000); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitN = %v, want Canceled", err)
	}
	if l.tokens != l.burst {
		t.Fatalf("tokens %v after a cancelled wait, want the burst %v back", l.tokens, l.burst)
	}
	if err := l.WaitN(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitN on a done context = %v", err)
	}
}

func TestLimiterReaderWriter(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1100000/16) // 1.1 MB
	ctx := context.Background()

	l, clk := newVirtual(t, 8)
	var got bytes.Buffer
	n, err := io.Copy(&got, l.Reader(ctx, bytes.NewReader(data)))
	if err != nil || n != int64(len(data)) || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("read %d bytes, err %v; data intact: %v", n, err, bytes.Equal(got.Bytes(), data))
	}
	want := time.Duration(float64(len(data)-100000) / 1e6 * float64(time.Second))
	if !near(clk.total(), want) {
		t.Fatalf("reading %d bytes took %v of virtual time, want %v", len(data), clk.total(), want)
	}

	l, clk = newVirtual(t, 8)
	got.Reset()
	m, err := l.Writer(ctx, &got).Write(data)
	if err != nil || m != len(data) || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("wrote %d bytes, err %v", m, err)
	}
	if !near(clk.total(), want) {
		t.Fatalf("writing took %v of virtual time, want %v", clk.total(), want)
	}
	if clk.naps < 10 {
		t.Fatalf("a 1.1 MB write waited in %d pieces; want pieces of at most one burst", clk.naps)
	}
}

func TestLimiterWriterStopsOnContext(t *testing.T) {
	l, _ := newVirtual(t, 8)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var buf bytes.Buffer
	n, err := l.Writer(ctx, &buf).Write(make([]byte, 10))
	if n != 0 || !errors.Is(err, context.Canceled) || buf.Len() != 0 {
		t.Fatalf("Write on a done context: %d, %v, %d bytes written", n, err, buf.Len())
	}
	if _, err := l.Reader(ctx, bytes.NewReader([]byte("x"))).Read(make([]byte, 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read on a done context: %v", err)
	}
}

// TestLimiterConcurrent runs many callers on the real clock at a rate that never makes them wait long, for the
// race detector; it asserts no timing.
func TestLimiterConcurrent(t *testing.T) {
	l := NewLimiter(10000) // 1.25 GB/s
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if err := l.WaitN(ctx, 4096); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// The listener's connections draw on the limiter in both directions.
func TestLimiterListenerCountsBothDirections(t *testing.T) {
	now := time.Unix(0, 0)
	var slept time.Duration
	l := newLimiter(8, func() time.Time { return now.Add(slept) }, func(ctx context.Context, d time.Duration) error { slept += d; return nil })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lln := l.Listener(t.Context(), ln)
	defer lln.Close()
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return
		}
		defer c.Close()
		c.Write(make([]byte, 3<<20))
		io.Copy(io.Discard, c)
	}()
	c, err := lln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.ReadFull(c, make([]byte, 3<<20)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	// 4 MiB at 8 Mbit/s (1 MB/s) needs about 4 s of waiting beyond the first burst.
	if slept < 3*time.Second {
		t.Fatalf("4 MiB through an 8 Mbit/s limiter waited only %v", slept)
	}
}
