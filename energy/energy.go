// Package energy accounts for the energy a node spends on inference: a meter per
// inference, a ledger, and the savings maths. Until a meter is configured it reports
// only what it knows for certain: counts of inferences and tokens, with method "none".
package energy

import (
	"sync"
	"time"
)

// MethodNone means no energy is measured: energy figures stay zero.
const MethodNone = "none"

// HistorySize is how many recent inferences a session keeps.
const HistorySize = 50

// Record is one inference.
type Record struct {
	Time     time.Time
	EnergyMJ float64
	Tokens   int
	Model    string
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
