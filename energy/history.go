package energy

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// MaxHistoryBuckets bounds one History call, so a request cannot make the node build
// an arbitrarily long series.
const MaxHistoryBuckets = 1000

// historySlack is how far past the range's start History keeps reading backwards:
// records are appended when an inference finishes, so their order in the ledger can
// differ from their times by the time a transaction batch waits (milliseconds).
const historySlack = 10 * time.Minute

// Bucket is one step of History: the inferences whose records fall in [Start, Start+step).
type Bucket struct {
	Start        time.Time
	Inferences   int64
	Tokens       int64
	PromptTokens int64
	EnergyMJ     float64
}

// ErrBadRange is returned by History for a range or step it cannot serve.
var ErrBadRange = errors.New("bad time range")

// History sums the ledger's records over [from, to) in steps of step, oldest first,
// one bucket per step (empty steps included). It reads the ledger backwards from its
// newest record and stops once records are older than from.
func (l *Ledger) History(from, to time.Time, step time.Duration) ([]Bucket, error) {
	if err := CheckRange(from, to, step); err != nil {
		return nil, err
	}
	n := int((to.Sub(from) + step - 1) / step)
	out := make([]Bucket, n)
	for i := range out {
		out[i].Start = from.Add(time.Duration(i) * step)
	}
	err := l.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(ledgerBucket).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("energy ledger record %x: %w", k, err)
			}
			if r.Time.Before(from.Add(-historySlack)) {
				return nil
			}
			if r.Time.Before(from) || !r.Time.Before(to) {
				continue
			}
			b := &out[int(r.Time.Sub(from)/step)]
			b.Inferences++
			b.Tokens += int64(r.Tokens)
			b.PromptTokens += int64(r.PromptTokens)
			b.EnergyMJ += r.EnergyMJ
		}
		return nil
	})
	return out, err
}

// CheckRange validates a History range: from before to, a step of at least a second,
// and at most MaxHistoryBuckets steps.
func CheckRange(from, to time.Time, step time.Duration) error {
	switch {
	case from.IsZero() || to.IsZero():
		return fmt.Errorf("%w: from and to are required", ErrBadRange)
	case !from.Before(to):
		return fmt.Errorf("%w: from (%s) must be before to (%s)", ErrBadRange, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	case step < time.Second:
		return fmt.Errorf("%w: step must be at least 1s, got %s", ErrBadRange, step)
	case (to.Sub(from)+step-1)/step > MaxHistoryBuckets:
		return fmt.Errorf("%w: %s in steps of %s is more than %d steps; use a larger step", ErrBadRange, to.Sub(from), step, MaxHistoryBuckets)
	}
	return nil
}

// History is the ledger's History; without a ledger there is nothing to read.
func (t *Tracker) History(from, to time.Time, step time.Duration) ([]Bucket, error) {
	if t.ledger == nil {
		return nil, errors.New("energy history: this node keeps no ledger")
	}
	return t.ledger.History(from, to, step)
}
