package consent

import (
	"math"
	"testing"
)

func TestThreads(t *testing.T) {
	cases := []struct {
		pct, cores, explicit int
		threads              int
		duty                 float64
	}{
		{25, 2, 0, 1, 0.5},
		{25, 4, 0, 1, 1},
		{25, 8, 0, 2, 1},
		{50, 8, 0, 4, 1},
		{100, 8, 0, 8, 1},
		{30, 8, 0, 2, 1},   // floor(2.4) = 2 threads flat out: 25%, under the cap
		{10, 4, 0, 1, 0.4}, // one thread 40% of the time: 10% of 4 cores
		{1, 2, 0, 1, 0.02},
		{25, 8, 8, 8, 0.25}, // --threads 8: each runs a quarter of the time
		{50, 2, 4, 4, 0.25},
		{100, 2, 1, 1, 1},
		{0, 4, 0, 1, 1},     // 0 reads as the default 25%
		{25, 0, 0, 1, 0.25}, // no core count: one core
	}
	for _, c := range cases {
		threads, duty := Contract{CPUPercent: c.pct}.Threads(c.cores, c.explicit)
		if threads != c.threads || math.Abs(duty-c.duty) > 1e-9 {
			t.Errorf("cpu %d%% on %d cores, --threads %d: got %d threads at %.3f, want %d at %.3f",
				c.pct, c.cores, c.explicit, threads, duty, c.threads, c.duty)
		}
		if duty <= 0 || duty > 1 {
			t.Errorf("duty %v out of (0, 1]", duty)
		}
	}
}

func TestRAMLimitBytes(t *testing.T) {
	for _, c := range []struct {
		mb   int
		want int64
	}{{0, 0}, {-1, 0}, {64, 64 << 20}, {4096, 4 << 30}} {
		if got := (Contract{MaxRAMMB: c.mb}).RAMLimitBytes(); got != c.want {
			t.Errorf("%d MB = %d bytes, want %d", c.mb, got, c.want)
		}
	}
}
