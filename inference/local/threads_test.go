package local

import (
	"testing"
	"time"
)

// Defect 2: on 2 cores with another busy process, 2 spinning threads collapsed. The
// governor replays idle, contended and recovery patterns here.
func TestThreadGovernor(t *testing.T) {
	g := newGovernor(2)
	now := time.Unix(0, 0)
	wall := 20 * time.Millisecond
	step := func(eff float64) int {
		n := g.limit(now)
		g.observe(now, n, wall, time.Duration(eff*float64(wall)*float64(n)))
		now = now.Add(wall)
		return n
	}
	// Idle: both threads get their cores.
	for i := range 50 {
		if n := step(0.97); n != 2 {
			t.Fatalf("idle step %d ran %d threads", i, n)
		}
	}
	// Contended: three low decodes in a row drop a thread; a single dip does not.
	step(0.5)
	step(0.95)
	if g.cur != 2 {
		t.Fatal("one slow decode dropped a thread")
	}
	for range 3 {
		step(0.55)
	}
	if g.cur != 1 {
		t.Fatalf("after 3 contended decodes: %d threads, want 1", g.cur)
	}
	// No probe before 2 s.
	dropped := now
	for now.Before(dropped.Add(probeAfter - wall)) {
		if n := step(1); n != 1 {
			t.Fatalf("probed %v after the drop", now.Sub(dropped))
		}
	}
	// The machine is still busy: the probe fails and the next waits twice as long.
	for g.limit(now) != 2 {
		step(1)
	}
	for range probeSteps {
		step(0.6)
	}
	if g.cur != 1 || g.backoff != 4*time.Second {
		t.Fatalf("failed probe: %d threads, backoff %v; want 1 and 4s", g.cur, g.backoff)
	}
	// Backoff doubles up to 30 s.
	for range 6 {
		now = g.nextProbe
		for range probeSteps {
			step(0.6)
		}
	}
	if g.backoff != maxProbeAfter {
		t.Fatalf("backoff %v, want capped at %v", g.backoff, maxProbeAfter)
	}
	// Recovery: the other process is gone; the probe keeps the thread.
	now = g.nextProbe
	for range probeSteps {
		step(0.96)
	}
	if g.cur != 2 || g.probing || g.backoff != probeAfter {
		t.Fatalf("recovery: %d threads, probing %v, backoff %v", g.cur, g.probing, g.backoff)
	}
	for range 20 {
		if n := step(0.96); n != 2 {
			t.Fatal("recovered thread dropped again while idle")
		}
	}
	// Decodes under a smaller share (remote work on 1 thread) say nothing.
	for range 10 {
		g.observe(now, 1, wall, wall/4)
	}
	if g.cur != 2 {
		t.Fatal("1-thread decodes moved the 2-thread limit")
	}
}
