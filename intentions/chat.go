package intentions

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

// ChatContext is what the node knows about a chat request when it asks for intentions.
type ChatContext struct {
	Session  string             // session key; "" is the anonymous session "default"
	Messages []string           // the request's user messages, oldest first
	Context  map[string]string  // request context keys, e.g. {"emotion": "frustration"}
	State    map[string]float64 // node state, e.g. {"energy.total_tokens": 1234}
}

// Injected is one intention given to a chat request, with how it scored.
type Injected struct {
	Intention Intention
	Score     float64
	Relevance float64
	Urgency   float64
	Freshness float64
	Reason    string // why it fired: "semantic match 0.83", "time due", "condition ...", "session start", "fired by hand"
}

// Injection is what one chat request gets: the items, best first, and the system
// message that carries them to the model ("" when there are none).
type Injection struct {
	Items         []Injected
	SystemMessage string
}

// Score weights; each component is in [0,1], so the score is too.
const (
	weightPriority  = 0.4
	weightRelevance = 0.3
	weightUrgency   = 0.2
	weightFreshness = 0.1

	urgencyWindow  = 24 * time.Hour
	freshnessScale = 7 * 24 * time.Hour
)

// SystemMessageHeader starts the system message that carries injected intentions.
const SystemMessageHeader = "Reminders from the user's intentions (bring them up when relevant):"

// semanticScore is a pending semantic intention's match with the latest message,
// computed before the write transaction because embedding can be slow.
type semanticScore struct {
	condition string    // the trigger condition scored; a change since voids the score
	sim       float64   // -1 when there was no message to compare
	embedding []float32 // non-nil when the stored embedding was missing or stale
}

// Prepare fires what this chat request triggers (semantic matches with the latest user
// message, conditions that hold, session_start for a new session, due time triggers) and
// returns the best MaxInject triggered intentions in the hot and warm tiers.
func (s *Store) Prepare(ctx context.Context, cc ChatContext) (Injection, error) {
	if err := ctx.Err(); err != nil {
		return Injection{}, err
	}
	message := ""
	for i := len(cc.Messages) - 1; i >= 0; i-- {
		if strings.TrimSpace(cc.Messages[i]) != "" {
			message = cc.Messages[i]
			break
		}
	}
	scores, err := s.scoreSemantic(ctx, message)
	if err != nil {
		return Injection{}, err
	}

	type fired struct{ id, reason string }
	var firings []fired
	var candidates []Injected
	// pass evaluates every intention against this request in tx. With write false it
	// only reads, and reports errNeedsWrite when something must be stored: a firing,
	// an expiry, a tier change, a new embedding, or a session that starts or whose
	// stored last-seen is stale. Most chats change nothing, so they never take bbolt's
	// single writer or its fsync.
	pass := func(tx *bbolt.Tx, write bool) error {
		firings, candidates = nil, nil
		conditions := map[string]*Condition{}
		now := s.now()
		newSession, err := s.touchSession(tx, cc.Session, now, write)
		if err != nil {
			return err
		}
		var changed []*record
		session := string(sessionKey(cc.Session))
		err = s.forEach(tx, func(rec *record) error {
			c := expireIfDue(rec, now)
			// A recurring session_start that fired for another session and was not
			// delivered there fires again for this new one (the firing moves here).
			if rec.TriggerType == TriggerSessionStart && newSession && rec.Status == StatusTriggered &&
				rec.FireSession != session && (rec.MaxFires == RecurringMaxFires || rec.FireCount < rec.MaxFires) {
				rec.Status = StatusPending
			}
			if rec.Status == StatusPending {
				switch rec.TriggerType {
				case TriggerTime:
					if timeDue(rec, now) {
						fireTime(rec, now)
					}
				case TriggerSemantic:
					sc, ok := scores[rec.ID]
					if !ok || sc.condition != rec.TriggerCondition {
						break
					}
					if sc.embedding != nil {
						rec.setEmbedding(sc.embedding, s.opts.Embedder.Name())
						c = true
					}
					if sc.sim >= s.opts.SemanticThreshold {
						fire(rec, now, fmt.Sprintf("semantic match %.2f", sc.sim), sc.sim)
						rec.FireSession = session
					}
				case TriggerCondition:
					cond, ok := conditions[rec.TriggerCondition]
					if !ok {
						cond, _ = ParseCondition(rec.TriggerCondition) // validated on write
						conditions[rec.TriggerCondition] = cond
					}
					if cond != nil && cond.Eval(cc.State, cc.Context) {
						fire(rec, now, "condition "+cond.String(), 1)
						rec.FireSession = session
					}
				case TriggerSessionStart:
					if newSession {
						fire(rec, now, reasonSessionStart, 1)
						rec.FireSession = session
					}
				}
				if rec.Status == StatusTriggered {
					c = true
					firings = append(firings, fired{rec.ID, rec.FireReason})
				}
			}
			if retier(rec, now) {
				c = true
			}
			if c {
				changed = append(changed, rec)
			}
			if rec.Status == StatusTriggered && (rec.Tier == TierHot || rec.Tier == TierWarm) &&
				(rec.FireSession == "" || rec.FireSession == session) {
				candidates = append(candidates, scoreOf(rec, now))
			}
			return nil
		})
		if err != nil {
			return err
		}
		if !write {
			if len(changed) > 0 {
				return errNeedsWrite
			}
			return nil
		}
		b := tx.Bucket(bucketIntentions)
		for _, rec := range changed {
			if err := putRecord(b, rec); err != nil {
				return err
			}
		}
		return nil
	}
	err = s.db.View(func(tx *bbolt.Tx) error { return pass(tx, false) })
	if errors.Is(err, errNeedsWrite) {
		err = s.db.Update(func(tx *bbolt.Tx) error { return pass(tx, true) })
	}
	if err != nil {
		return Injection{}, fmt.Errorf("prepare intentions: %w", err)
	}
	for _, f := range firings {
		s.log.Info("intention fired", "id", f.id, "reason", f.reason, "session", cc.Session)
	}

	slices.SortFunc(candidates, func(a, b Injected) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		if c := a.Intention.CreatedAt.Compare(b.Intention.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.Intention.ID, b.Intention.ID)
	})
	if len(candidates) > s.opts.MaxInject {
		candidates = candidates[:s.opts.MaxInject]
	}
	if len(candidates) == 0 {
		return Injection{}, nil
	}
	return Injection{Items: candidates, SystemMessage: systemMessage(candidates)}, nil
}

// scoreSemantic compares the message with every pending semantic intention, embedding
// the triggers whose stored embedding is missing or from another embedder. Nothing is
// written here; Prepare applies the result in its transaction.
func (s *Store) scoreSemantic(ctx context.Context, message string) (map[string]semanticScore, error) {
	now := s.now()
	var pending []*record
	err := s.db.View(func(tx *bbolt.Tx) error {
		return s.forEach(tx, func(rec *record) error {
			if rec.TriggerType == TriggerSemantic && rec.Status == StatusPending && !expireIfDue(rec, now) {
				pending = append(pending, rec)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("prepare intentions: %w", err)
	}
	model := s.opts.Embedder.Name()
	scores := map[string]semanticScore{}
	var matcher *Matcher
	for _, rec := range pending {
		sc := semanticScore{condition: rec.TriggerCondition, sim: -1}
		emb := rec.Embedding
		if rec.EmbeddingModel != model || len(emb) == 0 {
			v, ok := s.embedTrigger(ctx, rec.TriggerCondition)
			if !ok {
				continue
			}
			emb, sc.embedding = v, v
		}
		if message != "" && matcher == nil {
			if matcher, err = NewMatcher(ctx, s.opts.Embedder, message); err != nil {
				s.log.Warn("semantic triggers skipped: cannot embed the message", "err", err)
				message, matcher = "", nil
			}
		}
		if matcher != nil {
			sc.sim = matcher.Similarity(emb)
		}
		scores[rec.ID] = sc
	}
	return scores, nil
}

// errNeedsWrite ends Prepare's read-only pass when something must be stored.
var errNeedsWrite = errors.New("intentions: needs a write")

// touchEvery is how stale a session's stored last-seen may get before a chat rewrites
// it: sessions are idle (and start anew) with this resolution, and a chat within it
// writes nothing.
func (s *Store) touchEvery() time.Duration { return min(3*time.Minute, s.opts.SessionIdle/10) }

// touchSession reports whether this request starts session: it was never seen or was
// idle longer than SessionIdle. With write it records the session as seen now; without,
// it returns errNeedsWrite when that record is due (a new session, or a last-seen
// older than touchEvery).
func (s *Store) touchSession(tx *bbolt.Tx, name string, now time.Time, write bool) (bool, error) {
	b := tx.Bucket(bucketSessions)
	key := sessionKey(name)
	isNew, stale := true, true
	if v := b.Get(key); v != nil {
		var sess session
		if json.Unmarshal(v, &sess) == nil && now.Sub(sess.LastSeen) <= s.opts.SessionIdle {
			isNew = false
			stale = now.Sub(sess.LastSeen) >= s.touchEvery()
		}
	}
	if !write {
		if stale {
			return isNew, errNeedsWrite
		}
		return isNew, nil
	}
	v, err := json.Marshal(session{LastSeen: now})
	if err != nil {
		return false, err
	}
	return isNew, b.Put(key, v)
}

// scoreOf scores a triggered intention: 0.4·priority + 0.3·relevance + 0.2·urgency + 0.1·freshness.
func scoreOf(rec *record, now time.Time) Injected {
	rel := rec.FireRelevance
	if rec.FireReason == "" {
		rel = 1
	}
	urg := urgency(rec, now)
	fresh := math.Exp(-max(now.Sub(rec.CreatedAt), 0).Seconds() / freshnessScale.Seconds())
	return Injected{
		Intention: rec.public(),
		Score:     weightPriority*rec.Priority + weightRelevance*rel + weightUrgency*urg + weightFreshness*fresh,
		Relevance: rel,
		Urgency:   urg,
		Freshness: fresh,
		Reason:    cmp.Or(rec.FireReason, reasonManual),
	}
}

// urgency is 1 for a time trigger whose time has come, and rises from 0 to 1 over the
// last 24 hours before expires_at; the larger applies.
func urgency(rec *record, now time.Time) float64 {
	u := 0.0
	if rec.TriggerType == TriggerTime {
		if due, err := ParseTriggerTime(rec.TriggerCondition); err == nil && !due.After(now) {
			u = 1
		}
	}
	if rec.ExpiresAt != nil {
		if left := rec.ExpiresAt.Sub(now); left < urgencyWindow {
			u = max(u, clamp01(1-left.Seconds()/urgencyWindow.Seconds()))
		}
	}
	return u
}

func systemMessage(items []Injected) string {
	var b strings.Builder
	b.WriteString(SystemMessageHeader)
	for _, it := range items {
		b.WriteString("\n- ")
		b.WriteString(strings.Join(strings.Fields(it.Intention.Content), " "))
	}
	return b.String()
}

// Delivered records that a chat response carrying inj succeeded. Each intention still
// triggered by the same firing goes back to pending while it has fires left (max_fires
// -1, or fire_count below max_fires) and is executed otherwise. An intention that has
// moved on since (delivered already, cancelled, fired again) is left alone, so
// delivering the same injection twice changes nothing the second time.
func (s *Store) Delivered(ctx context.Context, inj Injection) error {
	if len(inj.Items) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketIntentions)
		now := s.now()
		for _, it := range inj.Items {
			v := b.Get([]byte(it.Intention.ID))
			if v == nil {
				continue
			}
			rec, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("decode intention %q: %w", it.Intention.ID, err)
			}
			changed := settle(rec, now)
			if rec.Status == StatusTriggered && rec.FireCount == it.Intention.FireCount {
				changed = true
				if rec.MaxFires == RecurringMaxFires || rec.FireCount < rec.MaxFires {
					rec.Status = StatusPending
				} else {
					rec.Status = StatusExecuted
				}
				rec.UpdatedAt = stamp(now)
				retier(rec, now)
			}
			if !changed {
				continue
			}
			if err := putRecord(b, rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("deliver intentions: %w", err)
	}
	return nil
}
