package energy

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// writeZone writes a fake powercap domain: RAPL cannot be read on this VM, so the
// sysfs layout is the part that is faked, not the arithmetic.
func writeZone(t *testing.T, root, name string, uj, rangeUJ uint64) {
	t.Helper()
	d := filepath.Join(root, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(f string, v uint64) {
		if err := os.WriteFile(filepath.Join(d, f), []byte(strconv.FormatUint(v, 10)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("energy_uj", uj)
	write("max_energy_range_uj", rangeUJ)
}

func TestRAPLSumsPackagesIgnoresSubzonesAndUnwraps(t *testing.T) {
	root := t.TempDir()
	writeZone(t, root, "intel-rapl:0", 1_000_000, 10_000_000)
	writeZone(t, root, "intel-rapl:0:0", 500_000, 10_000_000) // core subzone: inside package 0
	writeZone(t, root, "intel-rapl:1", 2_000_000, 10_000_000)
	r, err := NewRAPL(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.zones) != 2 {
		t.Fatalf("zones %d, want the 2 packages", len(r.zones))
	}
	j0, _ := r.Joules()
	writeZone(t, root, "intel-rapl:0", 3_500_000, 10_000_000)   // +2.5 J
	writeZone(t, root, "intel-rapl:0:0", 9_000_000, 10_000_000) // must not count
	writeZone(t, root, "intel-rapl:1", 500_000, 10_000_000)     // wrapped: +8.5 J
	j1, err := r.Joules()
	if err != nil {
		t.Fatal(err)
	}
	if got := j1 - j0; math.Abs(got-11.0) > 1e-9 {
		t.Fatalf("energy delta %.6f J, want 11 J (2.5 + 8.5 across a wrap)", got)
	}
}

func TestRAPLUnavailable(t *testing.T) {
	if _, err := NewRAPL(t.TempDir()); err == nil {
		t.Fatal("empty powercap dir: want error")
	}
	root := t.TempDir()
	writeZone(t, root, "intel-rapl:0", 1, 10)
	os.Remove(filepath.Join(root, "intel-rapl:0", "energy_uj"))
	if _, err := NewRAPL(root); err == nil {
		t.Fatal("unreadable counter: want error")
	}
}

func TestNewCounterChoosesAndSaysWhy(t *testing.T) {
	c, note, err := NewCounter(MeterOptions{PowercapRoot: t.TempDir(), WattsPerCore: 7})
	if err != nil || c.Method() != MethodCPUTime || !strings.Contains(note, "RAPL unavailable") || !strings.Contains(note, "7.0 W") {
		t.Fatalf("auto without RAPL: %v %q %v", c, note, err)
	}
	root := t.TempDir()
	writeZone(t, root, "intel-rapl:0", 1, 1000)
	if c, note, err := NewCounter(MeterOptions{PowercapRoot: root}); err != nil || c.Method() != MethodRAPL || note != "" {
		t.Fatalf("auto with RAPL: %v %q %v", c, note, err)
	}
	if _, _, err := NewCounter(MeterOptions{Method: MethodRAPL, PowercapRoot: t.TempDir()}); err == nil {
		t.Fatal("rapl forced without RAPL: want error, not a silent fallback")
	}
	if _, _, err := NewCounter(MeterOptions{Method: "guess"}); err == nil || !strings.Contains(err.Error(), "cpu_time") {
		t.Fatalf("unknown method: %v", err)
	}
}

func TestCPUTimeCountsWork(t *testing.T) {
	c := CPUTime{WattsPerCore: 10}
	j0, err := c.Joules()
	if err != nil {
		t.Fatal(err)
	}
	x := 0.0
	for i := range 50_000_000 {
		x += math.Sqrt(float64(i))
	}
	j1, _ := c.Joules()
	if j1 <= j0 || x == 0 {
		t.Fatalf("CPU time energy did not grow over a busy loop: %v -> %v", j0, j1)
	}
}

// stepCounter is a counter the test advances by hand.
type stepCounter struct {
	j   float64
	err error
}

func (s *stepCounter) Joules() (float64, error) { return s.j, s.err }
func (s *stepCounter) Method() string           { return "test" }

func TestMeterSplitsOverlapEvenly(t *testing.T) {
	c := &stepCounter{}
	m := NewMeter(c)
	c.j = 5 // idle energy: nobody's
	a := m.Begin()
	c.j += 2 // a alone: a=2
	b := m.Begin()
	c.j += 4 // a and b: 2 each
	ea, err := a.End()
	if err != nil {
		t.Fatal(err)
	}
	c.j += 3 // b alone
	eb, _ := b.End()
	if math.Abs(ea-4000) > 1e-9 || math.Abs(eb-5000) > 1e-9 {
		t.Fatalf("a %.3f mJ b %.3f mJ, want 4000 and 5000", ea, eb)
	}
	if again, _ := a.End(); again != ea {
		t.Fatalf("End twice: %v then %v", ea, again)
	}
}

func TestMeterReportsCounterFailure(t *testing.T) {
	c := &stepCounter{}
	m := NewMeter(c)
	ok := m.Begin()
	c.err = os.ErrPermission
	bad := m.Begin()
	if _, err := bad.End(); err == nil {
		t.Fatal("a failed read during a measurement must be an error")
	}
	c.err = nil
	c.j = 1
	if _, err := ok.End(); err == nil {
		t.Fatal("the overlapping measurement also missed energy: want error")
	}
	x := m.Begin()
	c.j = 2
	if e, err := x.End(); err != nil || e != 1000 {
		t.Fatalf("after recovery: %v %v", e, err)
	}
}
