package consent

import "math"

// Threads returns how many kernel threads the contract allows on a machine with cores CPUs, and the duty cycle
// (0 < duty <= 1) the kernel must keep so that threads*duty/cores ≈ cpu_percent/100:
// threads = max(1, floor(cores*cpu_percent/100)), or explicit when the owner set it (> 0);
// duty = min(1, cpu_percent*cores/(100*threads)). A cpu_percent of 0 reads as the default; cores < 1 as 1.
func (c Contract) Threads(cores, explicit int) (threads int, duty float64) {
	pct := c.CPUPercent
	if pct == 0 {
		pct = DefaultCPUPercent
	}
	pct = min(max(pct, 1), 100)
	cores = max(cores, 1)
	threads = max(1, cores*pct/100)
	if explicit > 0 {
		threads = explicit
	}
	duty = math.Min(1, float64(pct*cores)/float64(100*threads))
	return threads, duty
}

// RAMLimitBytes returns max_ram_mb in bytes (MB read as MiB); 0 means no limit.
func (c Contract) RAMLimitBytes() int64 {
	if c.MaxRAMMB <= 0 {
		return 0
	}
	return int64(c.MaxRAMMB) << 20
}
