// Package energy accounts for the energy a node spends on inference: a meter per
// inference (RAPL when readable, else CPU time × watts, always saying which), a ledger
// persisted in bbolt, and the savings maths against reference figures.
package energy

import (
	"errors"
	"sync"
	"time"
)

// MethodNone means no energy is measured: energy figures stay zero.
const MethodNone = "none"

// HistorySize is how many recent inferences a session keeps.
const HistorySize = 50

// Record is one inference.
type Record struct {
	Time         time.Time `json:"time"`
	EnergyMJ     float64   `json:"energy_mj"`
	Tokens       int       `json:"tokens"`        // generated
	PromptTokens int       `json:"prompt_tokens"` // evaluated
	Model        string    `json:"model"`
	Method       string    `json:"method"`
	DurationMS   float64   `json:"duration_ms"`
	Origin       string    `json:"origin,omitempty"` // "local" (the owner), "remote" (a remote client or peer)
}

// Session accumulates this process's inferences. Safe for concurrent use.
type Session struct {
	method string
	start  time.Time

	mu         sync.Mutex
	inferences int64
	tokens     int64
	energyMJ   float64
	history    []Record // ring of HistorySize
	next       int
}

// NewSession starts a session measured with method.
func NewSession(method string) *Session {
	return &Session{method: method, start: time.Now()}
}

// Add records an inference.
func (s *Session) Add(r Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inferences++
	s.tokens += int64(r.Tokens)
	s.energyMJ += r.EnergyMJ
	if len(s.history) < HistorySize {
		s.history = append(s.history, r)
	} else {
		s.history[s.next] = r
		s.next = (s.next + 1) % HistorySize
	}
}

// Snapshot is a consistent view of a session.
type Snapshot struct {
	Method     string
	Uptime     time.Duration
	Inferences int64
	Tokens     int64
	EnergyMJ   float64
	Recent     []Record // oldest first
}

// Snapshot returns the session's totals and recent history.
func (s *Session) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	recent := make([]Record, 0, len(s.history))
	recent = append(recent, s.history[s.next:]...)
	recent = append(recent, s.history[:s.next]...)
	return Snapshot{Method: s.method, Uptime: time.Since(s.start), Inferences: s.inferences, Tokens: s.tokens, EnergyMJ: s.energyMJ, Recent: recent}
}

// Tracker meters inferences and records them in the session and the ledger.
type Tracker struct {
	meter   *Meter
	session *Session
	ledger  *Ledger // nil: session only
	refs    References
}

// NewTracker accounts with meter, keeping lifetime records in ledger (may be nil).
func NewTracker(meter *Meter, ledger *Ledger, refs References) *Tracker {
	return &Tracker{meter: meter, session: NewSession(meter.Method()), ledger: ledger, refs: refs}
}

// Method is how energy is measured.
func (t *Tracker) Method() string { return t.meter.Method() }

// Begin starts metering one inference.
func (t *Tracker) Begin() *Measurement { return t.meter.Begin() }

// Finish ends x and records the inference in the session and the ledger. A meter
// failure records the inference with zero energy and returns the error, so the caller
// can log it; a ledger failure is returned too (the session still has the record).
func (t *Tracker) Finish(x *Measurement, r Record) (Record, error) {
	mj, merr := x.End()
	r.EnergyMJ = mj
	r.Method = t.meter.Method()
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	t.session.Add(r)
	var lerr error
	if t.ledger != nil {
		lerr = t.ledger.Append(r)
	}
	return r, errors.Join(merr, lerr)
}

// Report is the session's figures with savings, and lifetime totals when a ledger is kept.
type Report struct {
	Snapshot
	Savings    Savings
	References References
	Lifetime   *Lifetime
}

// Report computes the current figures.
func (t *Tracker) Report() (Report, error) {
	r := Report{Snapshot: t.session.Snapshot(), References: t.refs}
	r.Savings = ComputeSavings(r.Tokens, r.EnergyMJ, t.refs)
	if t.ledger != nil {
		lt, err := t.ledger.Lifetime()
		if err != nil {
			return r, err
		}
		r.Lifetime = &lt
	}
	return r, nil
}
