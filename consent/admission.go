package consent

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// Reason codes, as Reason.Code and /v1/status show them.
const (
	CodeOutsideSchedule      = "outside_schedule"
	CodeDayNotAllowed        = "day_not_allowed"
	CodeTaskTypeNotAllowed   = "task_type_not_allowed"
	CodeMaxConcurrentReached = "max_concurrent_reached"
)

// Reason says why the node does not accept work; the zero Reason means it does.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Refusal is the error Admit returns when the contract does not allow a task now.
type Refusal struct {
	Reason
	// OpensAt is when the schedule next accepts work, for a Retry-After; zero when the refusal is not about the
	// schedule or days.
	OpensAt time.Time
	// RetryAfter is how long a client should wait before asking again: until OpensAt for the schedule, a second
	// for a full node, zero (waiting will not help) for a task type the contract refuses.
	RetryAfter time.Duration
}

func (r *Refusal) Error() string { return r.Message }

// Admission decides, without waiting, whether work from peers and remote clients may start now. The owner's own
// local requests do not go through it. Safe for concurrent use.
type Admission struct {
	contract Contract
	rules    rules
	schedule string // for messages
	now      func() time.Time

	mu      sync.Mutex
	running int
}

// NewAdmission admits work under c (normalized) with the clock now (nil: time.Now). c should have passed Validate:
// an unreadable schedule, timezone or day refuses everything rather than guessing.
func NewAdmission(c Contract, now func() time.Time) *Admission {
	if now == nil {
		now = time.Now
	}
	c = c.Normalize()
	return &Admission{contract: c, rules: compileRules(c), schedule: c.scheduleText(), now: now}
}

// Admit checks, in order, the schedule and days, the task type and a free concurrency slot. On success the task
// holds a slot until release is called; release is idempotent and safe from any goroutine. On refusal err is a
// *Refusal and release is nil.
func (a *Admission) Admit(t TaskType) (release func(), err error) {
	now := a.now()
	if reason, opensAt := a.rules.check(now, a.schedule); reason.Code != "" {
		retry := time.Second
		if !opensAt.IsZero() {
			retry = max(opensAt.Sub(now), time.Second)
		}
		return nil, &Refusal{Reason: reason, OpensAt: opensAt, RetryAfter: retry}
	}
	if !a.contract.Allows(t) {
		return nil, &Refusal{Reason: Reason{Code: CodeTaskTypeNotAllowed,
			Message: fmt.Sprintf("consent: task type %s not accepted (contract allows: %s)", t, a.contract.allowedText())}}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running >= a.contract.MaxConcurrentTasks {
		return nil, &Refusal{Reason: a.fullReason(a.running), RetryAfter: time.Second}
	}
	a.running++
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			a.running--
			a.mu.Unlock()
		})
	}, nil
}

func (a *Admission) fullReason(running int) Reason {
	return Reason{Code: CodeMaxConcurrentReached,
		Message: fmt.Sprintf("consent: %d of %d concurrent tasks already running (max_concurrent_tasks)", running, a.contract.MaxConcurrentTasks)}
}

// Accepting reports whether a task of an allowed type would be admitted now: inside the schedule on an allowed
// day, with a free slot.
func (a *Admission) Accepting() (bool, Reason) {
	if reason, _ := a.rules.check(a.now(), a.schedule); reason.Code != "" {
		return false, reason
	}
	a.mu.Lock()
	running := a.running
	a.mu.Unlock()
	if running >= a.contract.MaxConcurrentTasks {
		return false, a.fullReason(running)
	}
	return true, Reason{}
}

// Running returns how many admitted tasks have not been released.
func (a *Admission) Running() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.running
}

// Contract returns the normalized contract admission runs under; the caller may modify the copy.
func (a *Admission) Contract() Contract {
	c := a.contract
	c.Days = cloneStrings(c.Days)
	c.TaskTypes = cloneStrings(c.TaskTypes)
	return c
}

// FromOwner reports whether a request from remoteAddr ("host:port" or a bare IP) is
// the owner's own: it comes from this machine's loopback. Everything else is remote
// work, which Admission governs.
func FromOwner(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
