package intentions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// Run ticks once at once, so intentions that came due while the node was down fire at
// start, and then every TickInterval until ctx ends. A failed tick is logged and the
// next one tries again. Run returns nil when ctx ends.
func (s *Store) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.TickInterval)
	defer t.Stop()
	for {
		if err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("intentions tick failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// errStop ends a bbolt ForEach early.
var errStop = errors.New("stop")

// session is the value stored per chat session.
type session struct {
	LastSeen time.Time `json:"last_seen"`
}

// Tick is one scheduler pass: due time intentions fire, intentions past expires_at
// expire, tiers follow age, and sessions idle past SessionIdle are forgotten.
func (s *Store) Tick(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := s.now()
	// Look before writing: most ticks change nothing, and an Update transaction commits
	// (and fsyncs) even when it changes nothing.
	need := false
	err := s.db.View(func(tx *bbolt.Tx) error {
		err := s.forEach(tx, func(rec *record) error {
			if changed, _ := advance(rec, now); changed {
				need = true
				return errStop
			}
			return nil
		})
		if err != nil || need {
			return err
		}
		stale, err := s.staleSessions(tx, now)
		need = len(stale) > 0
		return err
	})
	if err != nil && !errors.Is(err, errStop) {
		return fmt.Errorf("tick: %w", err)
	}
	if !need {
		return nil
	}

	type event struct{ id, what string }
	var events []event
	err = s.db.Update(func(tx *bbolt.Tx) error {
		var changed []*record
		err := s.forEach(tx, func(rec *record) error {
			before := rec.Status
			if c, fired := advance(rec, now); c {
				changed = append(changed, rec)
				switch {
				case fired:
					events = append(events, event{rec.ID, "fired"})
				case before != rec.Status:
					events = append(events, event{rec.ID, string(rec.Status)})
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		b := tx.Bucket(bucketIntentions)
		for _, rec := range changed {
			if err := putRecord(b, rec); err != nil {
				return err
			}
		}
		stale, err := s.staleSessions(tx, now)
		if err != nil {
			return err
		}
		sb := tx.Bucket(bucketSessions)
		for _, k := range stale {
			if err := sb.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("tick: %w", err)
	}
	for _, e := range events {
		s.log.Info("intention "+e.what, "id", e.id, "by", "scheduler")
	}
	return nil
}

// staleSessions lists sessions idle past SessionIdle: the next request starts them anew
// whether or not they are stored, so they need not be.
func (s *Store) staleSessions(tx *bbolt.Tx, now time.Time) ([][]byte, error) {
	var stale [][]byte
	err := tx.Bucket(bucketSessions).ForEach(func(k, v []byte) error {
		var sess session
		if json.Unmarshal(v, &sess) != nil || now.Sub(sess.LastSeen) > s.opts.SessionIdle {
			stale = append(stale, append([]byte(nil), k...))
		}
		return nil
	})
	return stale, err
}
