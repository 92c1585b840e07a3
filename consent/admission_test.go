package consent

import (
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a settable time source for Admission.
type clock struct{ t atomic.Pointer[time.Time] }

func newClock(t time.Time) *clock { c := &clock{}; c.set(t); return c }
func (c *clock) set(t time.Time)  { c.t.Store(&t) }
func (c *clock) now() time.Time   { return *c.t.Load() }

func refusal(t *testing.T, err error, code string) *Refusal {
	t.Helper()
	var r *Refusal
	if !errors.As(err, &r) {
		t.Fatalf("error %v is not a *Refusal", err)
	}
	if r.Code != code {
		t.Fatalf("refusal code %q (%s), want %q", r.Code, r.Message, code)
	}
	if r.Error() != r.Message {
		t.Fatalf("Error() %q != Message %q", r.Error(), r.Message)
	}
	return r
}

func TestAdmitConcurrency(t *testing.T) {
	a := NewAdmission(Contract{MaxConcurrentTasks: 2}, nil)
	r1, err := a.Admit(TextGen)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := a.Admit(CodeGen)
	if err != nil {
		t.Fatal(err)
	}
	if a.Running() != 2 {
		t.Fatalf("Running = %d, want 2", a.Running())
	}
	release, err := a.Admit(TextGen)
	if release != nil {
		t.Fatal("refusal returned a release func")
	}
	r := refusal(t, err, CodeMaxConcurrentReached)
	if want := "consent: 2 of 2 concurrent tasks already running (max_concurrent_tasks)"; r.Message != want {
		t.Fatalf("message %q, want %q", r.Message, want)
	}
	if !r.OpensAt.IsZero() {
		t.Fatalf("OpensAt %v on a concurrency refusal", r.OpensAt)
	}
	if ok, reason := a.Accepting(); ok || reason.Code != CodeMaxConcurrentReached {
		t.Fatalf("Accepting = %v, %+v while full", ok, reason)
	}

	r1()
	r1() // idempotent: must not free a second slot
	if a.Running() != 1 {
		t.Fatalf("Running = %d after a double release, want 1", a.Running())
	}
	if ok, reason := a.Accepting(); !ok || reason != (Reason{}) {
		t.Fatalf("Accepting = %v, %+v with a free slot", ok, reason)
	}
	r3, err := a.Admit(TextGen)
	if err != nil {
		t.Fatalf("Admit after release: %v", err)
	}
	if _, err := a.Admit(TextGen); err == nil {
		t.Fatal("third task admitted after a double release")
	}
	r2()
	r3()
	if a.Running() != 0 {
		t.Fatalf("Running = %d, want 0", a.Running())
	}
}

func TestAdmitConcurrentCallers(t *testing.T) {
	const max, callers = 3, 32
	a := NewAdmission(Contract{MaxConcurrentTasks: max}, nil)
	var admitted, peak atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range callers {
		wg.Go(func() {
			<-start
			for range 50 {
				release, err := a.Admit(TextGen)
				if err != nil {
					if r, ok := err.(*Refusal); !ok || r.Code != CodeMaxConcurrentReached {
						t.Errorf("Admit: %v", err)
					}
					continue
				}
				n := admitted.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				admitted.Add(-1)
				release()
				release()
			}
		})
	}
	close(start)
	wg.Wait()
	if peak.Load() > max {
		t.Fatalf("%d tasks ran at once, max %d", peak.Load(), max)
	}
	if a.Running() != 0 {
		t.Fatalf("Running = %d after every release", a.Running())
	}
}

func TestAdmitSchedule(t *testing.T) {
	clk := newClock(at(t, "Europe/Paris", "2026-11-24 18:00")) // Tuesday
	a := NewAdmission(Contract{Schedule: "09:00-17:00", Timezone: "Europe/Paris", Days: []string{"mon", "tue", "wed", "thu", "fri"}}, clk.now)

	_, err := a.Admit(TextGen)
	r := refusal(t, err, CodeOutsideSchedule)
	if want := "consent: outside schedule 09:00-17:00 (Europe/Paris); opens again at 2026-11-25T09:00:00+01:00"; r.Message != want {
		t.Fatalf("message %q, want %q", r.Message, want)
	}
	if want := at(t, "Europe/Paris", "2026-11-25 09:00"); !r.OpensAt.Equal(want) {
		t.Fatalf("OpensAt %v, want %v", r.OpensAt, want)
	}
	if ok, reason := a.Accepting(); ok || reason.Code != CodeOutsideSchedule {
		t.Fatalf("Accepting = %v, %+v outside the schedule", ok, reason)
	}

	clk.set(at(t, "Europe/Paris", "2026-11-25 09:00"))
	if ok, reason := a.Accepting(); !ok {
		t.Fatalf("Accepting = false at the window's start: %s", reason.Message)
	}
	release, err := a.Admit(TextGen)
	if err != nil {
		t.Fatal(err)
	}
	release()

	clk.set(at(t, "Europe/Paris", "2026-11-28 10:00")) // Saturday
	_, err = a.Admit(TextGen)
	r = refusal(t, err, CodeDayNotAllowed)
	if want := "consent: not accepting on sat (days: mon,tue,wed,thu,fri); opens again at 2026-11-30T09:00:00+01:00"; r.Message != want {
		t.Fatalf("message %q, want %q", r.Message, want)
	}
	if ok, reason := a.Accepting(); ok || reason.Code != CodeDayNotAllowed {
		t.Fatalf("Accepting = %v, %+v on a Saturday", ok, reason)
	}
}

func TestAdmitTaskType(t *testing.T) {
	a := NewAdmission(Contract{TaskTypes: []string{"summarization", "text_gen"}}, nil)
	_, err := a.Admit(CodeGen)
	r := refusal(t, err, CodeTaskTypeNotAllowed)
	if want := "consent: task type code_gen not accepted (contract allows: text_gen, summarization)"; r.Message != want {
		t.Fatalf("message %q, want %q", r.Message, want)
	}
	if a.Running() != 0 {
		t.Fatal("a refused task holds a slot")
	}
	release, err := a.Admit(Summarization)
	if err != nil {
		t.Fatal(err)
	}
	release()
}

// The schedule is checked before the task type, and both before concurrency.
func TestAdmitOrder(t *testing.T) {
	clk := newClock(at(t, "UTC", "2026-11-20 20:00"))
	a := NewAdmission(Contract{Schedule: "09:00-17:00", TaskTypes: []string{"text_gen"}, MaxConcurrentTasks: 1}, clk.now)
	_, err := a.Admit(CodeGen)
	refusal(t, err, CodeOutsideSchedule)
	clk.set(at(t, "UTC", "2026-11-20 10:00"))
	release, err := a.Admit(TextGen)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	_, err = a.Admit(CodeGen)
	refusal(t, err, CodeTaskTypeNotAllowed)
	_, err = a.Admit(TextGen)
	refusal(t, err, CodeMaxConcurrentReached)
}

func TestAdmitInvalidContractFailsClosed(t *testing.T) {
	a := NewAdmission(Contract{Timezone: "Mars/Olympus"}, nil)
	_, err := a.Admit(TextGen)
	refusal(t, err, CodeOutsideSchedule)
	if ok, _ := a.Accepting(); ok {
		t.Fatal("an unreadable contract accepts work")
	}
}

func TestAdmissionContract(t *testing.T) {
	a := NewAdmission(Contract{Days: []string{"Friday"}}, nil)
	c := a.Contract()
	want := Default()
	want.Days = []string{"fri"}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("Contract() = %+v, want normalized %+v", c, want)
	}
	c.Days[0] = "mon"
	if a.Contract().Days[0] != "fri" {
		t.Fatal("Contract() shares its slices")
	}
}

func TestFromOwner(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:5000": true, "[::1]:80": true, "127.8.9.1:1": true, "::1": true,
		"192.168.1.5:5000": false, "[2001:db8::1]:443": false, "10.0.0.1": false, "": false, "garbage": false,
	} {
		if got := FromOwner(addr); got != want {
			t.Errorf("FromOwner(%q) = %v, want %v", addr, got, want)
		}
	}
}
