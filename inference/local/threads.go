package local

import (
	"syscall"
	"time"
)

// governor adapts the kernel's thread count to the cores actually free. llama.cpp's
// worker threads spin-wait for each other at every barrier of a decode: when another
// process holds a core, one descheduled worker stalls all the others, and a decode on
// 2 threads of 2 busy cores can run 100× slower than on 1. The governor compares the
// CPU time the process got during each decode with wall time × threads: below
// lowEfficiency for lowSteps decodes in a row, it drops a thread. After probeAfter
// (doubling up to maxProbeAfter while probes fail) it tries the thread again, and keeps
// it when probeSteps decodes in a row reach goodEfficiency.
type governor struct {
	max, cur  int
	low       int // consecutive low-efficiency decodes at cur
	probing   bool
	probeN    int // decodes observed in this probe
	probeGood int
	backoff   time.Duration
	nextProbe time.Time
}

const (
	lowEfficiency  = 0.75
	goodEfficiency = 0.9
	lowSteps       = 3
	probeSteps     = 3
	probeAfter     = 2 * time.Second
	maxProbeAfter  = 30 * time.Second
)

func newGovernor(max int) *governor {
	return &governor{max: max, cur: max, backoff: probeAfter}
}

// limit is the most threads the next decode may use.
func (g *governor) limit(now time.Time) int {
	if !g.probing && g.cur < g.max && !now.Before(g.nextProbe) {
		g.probing, g.probeN, g.probeGood = true, 0, 0
		g.cur++
	}
	return g.cur
}

// observe records a decode that ran with threads threads, took wall, and during which
// the process got cpu of CPU time. Decodes with fewer threads than the limit (work for
// others under its share) say nothing about the limit and are ignored.
func (g *governor) observe(now time.Time, threads int, wall, cpu time.Duration) {
	if threads != g.cur || threads <= 1 && !g.probing || wall <= 0 {
		return
	}
	eff := cpu.Seconds() / (wall.Seconds() * float64(threads))
	if g.probing {
		g.probeN++
		if eff >= goodEfficiency {
			g.probeGood++
		}
		if g.probeN < probeSteps {
			return
		}
		g.probing = false
		if g.probeGood == probeSteps {
			g.backoff = probeAfter
			return
		}
		g.cur--
		g.backoff = min(2*g.backoff, maxProbeAfter)
		g.nextProbe = now.Add(g.backoff)
		return
	}
	if eff >= lowEfficiency {
		g.low = 0
		return
	}
	g.low++
	if g.low >= lowSteps && g.cur > 1 {
		g.cur--
		g.low = 0
		g.nextProbe = now.Add(g.backoff)
	}
}

// processCPU is the CPU time (user + system) the whole process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
