package energy

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Measurement methods, as reported in /v1/energy's "method" field.
const (
	// MethodRAPL reads the CPU packages' RAPL energy counters (Linux powercap sysfs).
	MethodRAPL = "rapl"
	// MethodCPUTime multiplies the process's CPU time by a per-core wattage.
	MethodCPUTime = "cpu_time"
)

// DefaultWattsPerCore is the power one fully busy core is assumed to draw when the
// meter falls back to CPU time: a mid-range laptop CPU draws 25-45 W across 4-8 busy
// cores, i.e. about 6-10 W each, plus its share of the package's uncore power.
const DefaultWattsPerCore = 10.0

// DefaultPowercapRoot is where Linux exposes RAPL counters.
const DefaultPowercapRoot = "/sys/class/powercap"

// Counter is a monotonic energy counter in joules.
type Counter interface {
	// Joules returns the energy counted since some fixed origin.
	Joules() (float64, error)
	// Method names what the counter measures (MethodRAPL, MethodCPUTime).
	Method() string
}

// RAPL sums the package-level RAPL domains (intel-rapl:N; AMD CPUs expose theirs under
// the same name) and unwraps their counters, which wrap at max_energy_range_uj.
type RAPL struct {
	mu    sync.Mutex
	zones []raplZone
}

type raplZone struct {
	path     string // .../energy_uj
	rangeUJ  uint64
	last     uint64
	totalUJ  float64
	haveLast bool
}

// NewRAPL finds readable package domains under root (DefaultPowercapRoot when "").
// It fails when there is none or a counter cannot be read (commonly: the files are
// root-only since Linux 5.10, or the machine is a VM without RAPL).
func NewRAPL(root string) (*RAPL, error) {
	if root == "" {
		root = DefaultPowercapRoot
	}
	dirs, err := filepath.Glob(filepath.Join(root, "intel-rapl:*"))
	if err != nil {
		return nil, err
	}
	sort.Strings(dirs)
	r := &RAPL{}
	for _, d := range dirs {
		// intel-rapl:0 is a package; intel-rapl:0:1 is a subzone inside it (core, dram,
		// uncore) whose energy is already part of the package's.
		if strings.Count(filepath.Base(d), ":") != 1 {
			continue
		}
		z := raplZone{path: filepath.Join(d, "energy_uj")}
		if b, err := os.ReadFile(filepath.Join(d, "max_energy_range_uj")); err == nil {
			z.rangeUJ, _ = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		}
		r.zones = append(r.zones, z)
	}
	if len(r.zones) == 0 {
		return nil, fmt.Errorf("no RAPL package domains under %s", root)
	}
	if _, err := r.Joules(); err != nil {
		return nil, err
	}
	return r, nil
}

// Method is MethodRAPL.
func (r *RAPL) Method() string { return MethodRAPL }

// Joules is the package energy counted since NewRAPL.
func (r *RAPL) Joules() (float64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var sum float64
	for i := range r.zones {
		z := &r.zones[i]
		b, err := os.ReadFile(z.path)
		if err != nil {
			return 0, fmt.Errorf("RAPL: %w", err)
		}
		v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("RAPL: %s: %w", z.path, err)
		}
		if z.haveLast {
			if v >= z.last {
				z.totalUJ += float64(v - z.last)
			} else if z.rangeUJ > z.last {
				z.totalUJ += float64(z.rangeUJ - z.last + v) // wrapped
			}
		}
		z.last, z.haveLast = v, true
		sum += z.totalUJ
	}
	return sum / 1e6, nil
}

// CPUTime counts the process's user+system CPU time times a per-core wattage.
type CPUTime struct {
	WattsPerCore float64
}

// Method is MethodCPUTime.
func (c CPUTime) Method() string { return MethodCPUTime }

// Joules is the process's CPU seconds so far times WattsPerCore.
func (c CPUTime) Joules() (float64, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	sec := float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
	return sec * c.WattsPerCore, nil
}

// MeterOptions chooses a counter.
type MeterOptions struct {
	Method       string  // "" or "auto": RAPL when readable, else CPU time; or MethodRAPL / MethodCPUTime
	PowercapRoot string  // default DefaultPowercapRoot
	WattsPerCore float64 // default DefaultWattsPerCore
}

// NewCounter returns the counter opts ask for. "auto" never fails: it falls back to
// CPU time and says why in the returned note.
func NewCounter(opts MeterOptions) (c Counter, note string, err error) {
	if opts.WattsPerCore <= 0 {
		opts.WattsPerCore = DefaultWattsPerCore
	}
	cpu := CPUTime{WattsPerCore: opts.WattsPerCore}
	switch opts.Method {
	case MethodCPUTime:
		return cpu, "", nil
	case MethodRAPL:
		r, err := NewRAPL(opts.PowercapRoot)
		if err != nil {
			return nil, "", err
		}
		return r, "", nil
	case "", "auto":
		r, err := NewRAPL(opts.PowercapRoot)
		if err != nil {
			return cpu, fmt.Sprintf("RAPL unavailable (%v); using CPU time × %.1f W per core", err, opts.WattsPerCore), nil
		}
		return r, "", nil
	}
	return nil, "", fmt.Errorf("energy method %q: want auto, %s or %s", opts.Method, MethodRAPL, MethodCPUTime)
}

// Meter attributes a counter's energy to concurrent inferences: between two events
// (a start or an end) the energy counted is split evenly among the inferences running,
// so overlapping requests share the machine's energy instead of each claiming all of
// it. Energy spent while nothing runs is attributed to no inference.
type Meter struct {
	counter Counter

	mu       sync.Mutex
	active   int
	last     float64 // counter reading at the last event, J
	perShare float64 // J attributed to each running inference since the meter started
	failures int     // counter reads that failed so far
	lastErr  error
}

// NewMeter meters with c.
func NewMeter(c Counter) *Meter {
	m := &Meter{counter: c}
	m.mu.Lock()
	m.advance()
	m.mu.Unlock()
	return m
}

// Method is the counter's method.
func (m *Meter) Method() string { return m.counter.Method() }

// advance attributes the energy since the last event; m.mu held.
func (m *Meter) advance() {
	j, err := m.counter.Joules()
	if err != nil {
		m.failures++
		m.lastErr = err
		return
	}
	if m.active > 0 && j > m.last {
		m.perShare += (j - m.last) / float64(m.active)
	}
	m.last = j
}

// Measurement is one running inference's share.
type Measurement struct {
	m        *Meter
	start    float64
	failures int
	once     sync.Once
	mj       float64
	err      error
}

// Begin starts measuring an inference.
func (m *Meter) Begin() *Measurement {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advance()
	m.active++
	return &Measurement{m: m, start: m.perShare, failures: m.failures}
}

// End stops the measurement and returns the inference's energy in millijoules. A
// counter that failed during the measurement is an error, never a silent zero.
// Calling End again returns the same result.
func (x *Measurement) End() (float64, error) {
	x.once.Do(func() {
		m := x.m
		m.mu.Lock()
		defer m.mu.Unlock()
		m.advance()
		m.active--
		x.mj = (m.perShare - x.start) * 1000
		if m.failures != x.failures {
			x.err = fmt.Errorf("energy meter (%s): %w", m.counter.Method(), m.lastErr)
		}
	})
	return x.mj, x.err
}
