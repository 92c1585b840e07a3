package consent

import (
	"context"
	"io"
	"math"
	"net"
	"sync"
	"time"
)

// minBurst is the smallest burst a Limiter allows: one peer frame must never need two waits.
const minBurst = 64 << 10

// maxWait keeps an absurd n from overflowing time.Duration (about 146 years: the context ends first).
const maxWait = float64(1 << 62)

// Limiter is a token bucket over bytes of peer traffic, shared by every connection it wraps. A nil *Limiter is
// unlimited: its methods pass everything through at once.
//
// Tokens may go negative: WaitN takes n bytes at once and sleeps off the debt, so requests larger than the burst
// pass (at the configured rate) and concurrent callers are served in the order they asked.
type Limiter struct {
	rate  float64 // bytes per second
	burst float64

	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// NewLimiter limits traffic to mbps megabits (10^6 bits) per second with a burst of max(64 KiB, 100 ms of
// traffic). mbps <= 0 (or not a finite number) returns nil: unlimited.
func NewLimiter(mbps float64) *Limiter {
	return newLimiter(mbps, time.Now, sleepCtx)
}

func newLimiter(mbps float64, now func() time.Time, sleep func(context.Context, time.Duration) error) *Limiter {
	if !(mbps > 0) || math.IsInf(mbps, 1) {
		return nil
	}
	rate := mbps * 1e6 / 8
	burst := max(minBurst, rate/10)
	return &Limiter{rate: rate, burst: burst, now: now, sleep: sleep, tokens: burst, last: now()}
}

// BytesPerSecond returns the limit; 0 for an unlimited (nil) Limiter.
func (l *Limiter) BytesPerSecond() float64 {
	if l == nil {
		return 0
	}
	return l.rate
}

// WaitN blocks until n bytes may pass or ctx ends. When ctx's deadline comes before the bytes could pass it
// returns at once with context.DeadlineExceeded, taking nothing; when ctx ends while waiting the bytes are given
// back.
func (l *Limiter) WaitN(ctx context.Context, n int) error {
	if l == nil || n <= 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	now := l.now()
	l.refill(now)
	l.tokens -= float64(n)
	var wait time.Duration
	if l.tokens < 0 {
		wait = time.Duration(min(-l.tokens/l.rate*float64(time.Second), maxWait))
	}
	if deadline, ok := ctx.Deadline(); ok && wait > 0 && now.Add(wait).After(deadline) {
		l.tokens += float64(n)
		l.mu.Unlock()
		return context.DeadlineExceeded
	}
	l.mu.Unlock()
	if wait <= 0 {
		return nil
	}
	if err := l.sleep(ctx, wait); err != nil {
		l.mu.Lock()
		l.refill(l.now())
		l.tokens = min(l.tokens+float64(n), l.burst)
		l.mu.Unlock()
		return err
	}
	return nil
}

// refill adds the tokens earned since the last call, up to the burst. Called with mu held.
func (l *Limiter) refill(now time.Time) {
	if elapsed := now.Sub(l.last); elapsed > 0 {
		l.tokens = min(l.burst, l.tokens+elapsed.Seconds()*l.rate)
		l.last = now
	}
}

// Reader returns r limited by l: each Read reads at most one burst and waits for what it read. A Read cut short by
// ctx returns the bytes it read with ctx's error.
func (l *Limiter) Reader(ctx context.Context, r io.Reader) io.Reader {
	if l == nil {
		return r
	}
	return &limitedReader{ctx: ctx, l: l, r: r}
}

// Writer returns w limited by l: each Write passes in pieces of at most one burst, each waited for before it is
// written.
func (l *Limiter) Writer(ctx context.Context, w io.Writer) io.Writer {
	if l == nil {
		return w
	}
	return &limitedWriter{ctx: ctx, l: l, w: w}
}

type limitedReader struct {
	ctx context.Context
	l   *Limiter
	r   io.Reader
}

func (lr *limitedReader) Read(p []byte) (int, error) {
	if err := lr.ctx.Err(); err != nil {
		return 0, err
	}
	if len(p) > int(lr.l.burst) {
		p = p[:int(lr.l.burst)]
	}
	n, err := lr.r.Read(p)
	if werr := lr.l.WaitN(lr.ctx, n); werr != nil {
		return n, werr
	}
	return n, err
}

type limitedWriter struct {
	ctx context.Context
	l   *Limiter
	w   io.Writer
}

func (lw *limitedWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), int(lw.l.burst))]
		if err := lw.l.WaitN(lw.ctx, len(chunk)); err != nil {
			return written, err
		}
		n, err := lw.w.Write(chunk)
		written += n
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Listener returns ln whose connections are limited by l in both directions: the
// node's peer traffic under max_bandwidth_mbps. All connections share the one budget.
// ctx bounds every wait (the server's lifetime).
func (l *Limiter) Listener(ctx context.Context, ln net.Listener) net.Listener {
	if l == nil {
		return ln
	}
	return &limitedListener{Listener: ln, ctx: ctx, l: l}
}

type limitedListener struct {
	net.Listener
	ctx context.Context
	l   *Limiter
}

func (ll *limitedListener) Accept() (net.Conn, error) {
	c, err := ll.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &limitedConn{Conn: c, r: ll.l.Reader(ll.ctx, c), w: ll.l.Writer(ll.ctx, c)}, nil
}

type limitedConn struct {
	net.Conn
	r io.Reader
	w io.Writer
}

func (c *limitedConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *limitedConn) Write(p []byte) (int, error) { return c.w.Write(p) }
