package intentions

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"go.etcd.io/bbolt"
)

// Bucket names in the node's bbolt file.
var (
	bucketIntentions = []byte("intentions")
	bucketSessions   = []byte("intention_sessions")
)

// Defaults for Options.
const (
	DefaultSemanticThreshold = 0.78
	DefaultMaxInject         = 3
	DefaultSessionIdle       = 30 * time.Minute
	DefaultTickInterval      = time.Second
)

// Options configure a Store; zero fields take the defaults.
type Options struct {
	Embedder          Embedder         // default NewLexicalEmbedder()
	Now               func() time.Time // default time.Now; tests inject a clock
	SemanticThreshold float64          // default 0.78
	MaxInject         int              // default 3: the most intentions one chat request gets
	SessionIdle       time.Duration    // default 30m: a session idle this long starts anew
	TickInterval      time.Duration    // default 1s: the scheduler's period
	Logger            *slog.Logger     // default discards
}

// Store keeps intentions in a bbolt file it does not own. Safe for concurrent use:
// every change is a read-modify-write inside one bbolt Update transaction, so it is
// durable once the call returns and concurrent calls never lose each other's updates.
type Store struct {
	db   *bbolt.DB
	opts Options
	log  *slog.Logger
}

// record is the value stored under an intention's id: the API form plus what only the
// store needs.
type record struct {
	Intention
	Embedding      []float32 `json:"trigger_embedding,omitempty"`
	EmbeddingModel string    `json:"trigger_embedding_model,omitempty"`
	// FireReason and FireRelevance describe the latest firing, for scoring and for the
	// reason shown when the intention is injected.
	FireReason    string  `json:"fire_reason,omitempty"`
	FireRelevance float64 `json:"fire_relevance,omitempty"`
	// FiredForTime is the due time a time trigger last fired for: it fires once per due time.
	FiredForTime *time.Time `json:"fired_for_time,omitempty"`
	// FireSession is the session (its key) whose request fired the intention (a
	// session start, a semantic match, a condition on its context): the firing is
	// delivered to that session only. "" for firings of no session (time, by hand).
	FireSession string `json:"fire_session,omitempty"`
}

// public is the Intention a caller sees.
func (r *record) public() Intention {
	in := r.Intention
	in.TriggerEmbedding = slices.Clone(r.Embedding)
	in.RelatedTopics = slices.Clone(in.RelatedTopics)
	if in.RelatedTopics == nil {
		in.RelatedTopics = []string{}
	}
	return in
}

func decodeRecord(v []byte) (*record, error) {
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, err
	}
	if r.ID == "" {
		return nil, errors.New("record has no id")
	}
	return &r, nil
}

func putRecord(b *bbolt.Bucket, r *record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode intention %s: %w", r.ID, err)
	}
	return b.Put([]byte(r.ID), v)
}

// Open prepares the store's buckets in db. The caller keeps owning db and closes it.
func Open(db *bbolt.DB, opts Options) (*Store, error) {
	if opts.Embedder == nil {
		opts.Embedder = NewLexicalEmbedder()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SemanticThreshold <= 0 {
		opts.SemanticThreshold = DefaultSemanticThreshold
	}
	if opts.MaxInject <= 0 {
		opts.MaxInject = DefaultMaxInject
	}
	if opts.SessionIdle <= 0 {
		opts.SessionIdle = DefaultSessionIdle
	}
	if opts.TickInterval <= 0 {
		opts.TickInterval = DefaultTickInterval
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketIntentions, bucketSessions} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open intentions: %w", err)
	}
	return &Store{db: db, opts: opts, log: log.With("component", "intentions")}, nil
}

func (s *Store) now() time.Time { return s.opts.Now().UTC() }

// stamp is a time as stored and shown: UTC, whole seconds.
func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

// embedTrigger computes a semantic trigger's embedding. A failure is logged, not
// returned: the intention is kept without an embedding and Prepare retries.
func (s *Store) embedTrigger(ctx context.Context, phrase string) ([]float32, bool) {
	v, err := s.opts.Embedder.Embed(ctx, phrase)
	if err == nil && (len(v) == 0 || !finite(v)) {
		err = errors.New("embedding is empty or not finite")
	}
	if err != nil {
		s.log.Warn("embed trigger failed; will retry", "embedder", s.opts.Embedder.Name(), "err", err)
		return nil, false
	}
	return v, true
}

func (r *record) setEmbedding(v []float32, model string) {
	r.Embedding, r.EmbeddingModel = v, model
	r.TriggerEmbeddingComputed = v != nil
}

// Create validates req and stores a new pending intention.
func (s *Store) Create(ctx context.Context, req CreateRequest) (Intention, error) {
	now := s.now()
	in, err := validateCreate(req, now)
	if err != nil {
		return Intention{}, err
	}
	rec := &record{Intention: in}
	rec.CreatedAt, rec.UpdatedAt, rec.Tier = stamp(now), stamp(now), TierHot
	if in.TriggerType == TriggerSemantic {
		if v, ok := s.embedTrigger(ctx, in.TriggerCondition); ok {
			rec.setEmbedding(v, s.opts.Embedder.Name())
		}
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketIntentions)
		for rec.ID = newID(); b.Get([]byte(rec.ID)) != nil; rec.ID = newID() {
		}
		return putRecord(b, rec)
	})
	if err != nil {
		return Intention{}, fmt.Errorf("create intention: %w", err)
	}
	s.log.Info("intention created", "id", rec.ID, "trigger_type", rec.TriggerType)
	return rec.public(), nil
}

// Get returns one intention, its expiry and tier as of now.
func (s *Store) Get(ctx context.Context, id string) (Intention, error) {
	var out Intention
	err := s.db.View(func(tx *bbolt.Tx) error {
		rec, err := getRecord(tx, id)
		if err != nil {
			return err
		}
		settle(rec, s.now())
		out = rec.public()
		return nil
	})
	return out, err
}

func getRecord(tx *bbolt.Tx, id string) (*record, error) {
	v := tx.Bucket(bucketIntentions).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	rec, err := decodeRecord(v)
	if err != nil {
		return nil, fmt.Errorf("decode intention %q: %w", id, err)
	}
	return rec, nil
}

// forEach decodes every record; one that does not decode is logged and skipped so a
// damaged value cannot stop the scheduler or listing.
func (s *Store) forEach(tx *bbolt.Tx, fn func(*record) error) error {
	return tx.Bucket(bucketIntentions).ForEach(func(k, v []byte) error {
		rec, err := decodeRecord(v)
		if err != nil {
			s.log.Error("skip undecodable intention", "key", string(k), "err", err)
			return nil
		}
		return fn(rec)
	})
}

// List returns intentions filtered and sorted by opts, their expiry and tier as of now.
func (s *Store) List(ctx context.Context, opts ListOptions) ([]Intention, error) {
	opts, err := validateListOptions(opts)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var all []Intention
	err = s.db.View(func(tx *bbolt.Tx) error {
		return s.forEach(tx, func(rec *record) error {
			settle(rec, now)
			if (opts.Status == "" || rec.Status == opts.Status) && (opts.TriggerType == "" || rec.TriggerType == opts.TriggerType) {
				all = append(all, rec.public())
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list intentions: %w", err)
	}
	slices.SortFunc(all, listOrder(opts.Sort))
	if len(all) > opts.Limit {
		all = all[:opts.Limit]
	}
	if all == nil {
		all = []Intention{}
	}
	return all, nil
}

// listOrder: ties fall back to created_at then id, in the sort's direction for the
// created sorts and oldest first for the priority sorts.
func listOrder(sort string) func(a, b Intention) int {
	byCreated := func(a, b Intention) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	}
	switch sort {
	case SortPriorityAsc:
		return func(a, b Intention) int {
			if c := cmp.Compare(a.Priority, b.Priority); c != 0 {
				return c
			}
			return byCreated(a, b)
		}
	case SortCreatedDesc:
		return func(a, b Intention) int { return byCreated(b, a) }
	case SortCreatedAsc:
		return byCreated
	}
	return func(a, b Intention) int {
		if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
			return c
		}
		return byCreated(a, b)
	}
}

// opError returns the errors callers act on (not found, validation, transition) as they
// are, since their text is written for the API's client, and wraps any other with op.
func opError(op string, err error) error {
	var ve *ValidationError
	var te *TransitionError
	if errors.Is(err, ErrNotFound) || errors.As(err, &ve) || errors.As(err, &te) {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}

// modify runs fn on one record inside an Update transaction, after settling its expiry
// and tier, and stores it when fn reports a change.
func (s *Store) modify(id string, fn func(rec *record, now time.Time) (bool, error)) (Intention, error) {
	var out Intention
	err := s.db.Update(func(tx *bbolt.Tx) error {
		rec, err := getRecord(tx, id)
		if err != nil {
			return err
		}
		now := s.now()
		settled := settle(rec, now)
		changed, err := fn(rec, now)
		if err != nil {
			return err
		}
		if changed {
			rec.UpdatedAt = stamp(now)
			retier(rec, now)
		}
		out = rec.public()
		if changed || settled {
			return putRecord(tx.Bucket(bucketIntentions), rec)
		}
		return nil
	})
	return out, err
}

// Update applies a patch: fields first, then the status change, so one patch can
// move expires_at and reactivate an expired intention.
func (s *Store) Update(ctx context.Context, id string, p Patch) (Intention, error) {
	if p.Priority != nil {
		if err := validatePriority(*p.Priority); err != nil {
			return Intention{}, err
		}
	}
	if p.ExpiresAt != nil && p.ClearExpiresAt {
		return Intention{}, invalid("expires_at", "give a time or null, not both")
	}
	if p.ExpiresAt != nil {
		if err := validateExpiry(*p.ExpiresAt, s.now()); err != nil {
			return Intention{}, err
		}
	}
	if p.Status != nil && !p.Status.valid() {
		return Intention{}, invalid("status", "must be one of pending, triggered, executed, expired, cancelled")
	}
	// A new trigger condition is validated against the stored trigger type and, for a
	// semantic trigger, embedded before the write transaction; the type never changes,
	// so it cannot go stale.
	var cond string
	var emb []float32
	if p.TriggerCondition != nil {
		cur, err := s.Get(ctx, id)
		if err != nil {
			return Intention{}, err
		}
		if cond, err = validateCondition(cur.TriggerType, *p.TriggerCondition); err != nil {
			return Intention{}, err
		}
		if cur.TriggerType == TriggerSemantic {
			emb, _ = s.embedTrigger(ctx, cond)
		}
	}
	out, err := s.modify(id, func(rec *record, now time.Time) (bool, error) {
		changed := false
		if p.Priority != nil && *p.Priority != rec.Priority {
			rec.Priority, changed = *p.Priority, true
		}
		if p.TriggerCondition != nil && cond != rec.TriggerCondition {
			rec.TriggerCondition, changed = cond, true
			if rec.TriggerType == TriggerSemantic {
				rec.setEmbedding(emb, s.opts.Embedder.Name())
			}
		}
		if p.ClearExpiresAt && rec.ExpiresAt != nil {
			rec.ExpiresAt, changed = nil, true
		}
		if p.ExpiresAt != nil && (rec.ExpiresAt == nil || !rec.ExpiresAt.Equal(*p.ExpiresAt)) {
			t := p.ExpiresAt.UTC()
			rec.ExpiresAt, changed = &t, true
		}
		if p.Status != nil && *p.Status != rec.Status {
			if err := transition(rec, *p.Status, now); err != nil {
				return false, err
			}
			changed = true
		}
		return changed, nil
	})
	if err != nil {
		return Intention{}, opError("update intention", err)
	}
	return out, nil
}

// Cancel sets an intention cancelled (and cold). It is kept, not deleted.
func (s *Store) Cancel(ctx context.Context, id string) (Intention, error) {
	out, err := s.modify(id, func(rec *record, now time.Time) (bool, error) {
		if rec.Status == StatusCancelled {
			return false, nil
		}
		return true, transition(rec, StatusCancelled, now)
	})
	if err != nil {
		return Intention{}, opError("cancel intention", err)
	}
	return out, nil
}

// Fire triggers a pending intention by hand; the next chat request gets it.
func (s *Store) Fire(ctx context.Context, id string) (Intention, error) {
	out, err := s.modify(id, func(rec *record, now time.Time) (bool, error) {
		if rec.Status != StatusPending { // unlike PATCH, firing twice is not a no-op
			return false, &TransitionError{From: rec.Status, To: StatusTriggered, Reason: "only a pending intention fires"}
		}
		return true, transition(rec, StatusTriggered, now)
	})
	if err != nil {
		return Intention{}, opError("fire intention", err)
	}
	s.log.Info("intention fired", "id", id, "reason", reasonManual)
	return out, nil
}

// transition moves rec to status to, or refuses with a *TransitionError; see the table
// in the package doc. Moving a pending intention to triggered is a manual firing.
func transition(rec *record, to Status, now time.Time) error {
	from := rec.Status
	refuse := func(reason string) error { return &TransitionError{From: from, To: to, Reason: reason} }
	switch {
	case from == to:
		return nil
	case to == StatusTriggered:
		if from != StatusPending {
			return refuse("")
		}
		if !firesLeft(rec) {
			return refuse(noFiresLeft(rec))
		}
		fire(rec, now, reasonManual, 1)
		return nil
	case to == StatusPending:
		if !firesLeft(rec) {
			return refuse(noFiresLeft(rec))
		}
		switch from {
		case StatusTriggered:
		case StatusCancelled, StatusExpired:
			if rec.ExpiresAt != nil && !rec.ExpiresAt.After(now) {
				return refuse("expires_at has passed; give a later expires_at or null in the same request")
			}
		default:
			return refuse("")
		}
	case to == StatusExecuted, to == StatusExpired, to == StatusCancelled:
		if from != StatusPending && from != StatusTriggered {
			return refuse("")
		}
	default:
		return refuse("")
	}
	rec.Status = to
	return nil
}

// firesLeft reports whether rec may fire again: a pending intention must be able to.
func firesLeft(rec *record) bool { return rec.MaxFires == -1 || rec.FireCount < rec.MaxFires }

func noFiresLeft(rec *record) string {
	return fmt.Sprintf("it has fired %d of max_fires %d times; it can only be executed, expired or cancelled", rec.FireCount, rec.MaxFires)
}

// Reasons shown for injected intentions.
const (
	reasonManual       = "fired by hand"
	reasonTime         = "time due"
	reasonSessionStart = "session start"
)

// fire moves a pending intention to triggered and hot.
func fire(rec *record, now time.Time, reason string, relevance float64) {
	rec.Status = StatusTriggered
	rec.FireCount++
	t := stamp(now)
	rec.LastFiredAt = &t
	rec.UpdatedAt = t
	rec.Tier = TierHot
	rec.FireReason, rec.FireRelevance = reason, clamp01(relevance)
	rec.FireSession = ""
}

// Tier ages.
const (
	HotAge  = 24 * time.Hour
	WarmAge = 7 * 24 * time.Hour
)

// tierAt: terminal intentions are cold; others by the time since they were last
// created, changed or fired.
func tierAt(rec *record, now time.Time) Tier {
	if rec.Status.terminal() {
		return TierCold
	}
	switch age := now.Sub(rec.UpdatedAt); {
	case age <= HotAge:
		return TierHot
	case age <= WarmAge:
		return TierWarm
	}
	return TierCold
}

func retier(rec *record, now time.Time) bool {
	t := tierAt(rec, now)
	if t == rec.Tier {
		return false
	}
	rec.Tier = t
	return true
}

// expireIfDue moves a pending or triggered intention whose expires_at has come to expired.
func expireIfDue(rec *record, now time.Time) bool {
	if (rec.Status != StatusPending && rec.Status != StatusTriggered) || rec.ExpiresAt == nil || rec.ExpiresAt.After(now) {
		return false
	}
	rec.Status = StatusExpired
	rec.UpdatedAt = stamp(now)
	return true
}

// settle applies what time alone changes without firing anything: expiry and tier.
// Reads apply it too, so they never show an expired intention as pending.
func settle(rec *record, now time.Time) bool {
	expired := expireIfDue(rec, now)
	return retier(rec, now) || expired
}

// timeDue reports whether a pending time intention should fire: its time has come and it
// has not fired for that time yet.
func timeDue(rec *record, now time.Time) bool {
	if rec.Status != StatusPending || rec.TriggerType != TriggerTime {
		return false
	}
	due, err := ParseTriggerTime(rec.TriggerCondition)
	if err != nil || due.After(now) {
		return false
	}
	return rec.FiredForTime == nil || !rec.FiredForTime.Equal(due)
}

func fireTime(rec *record, now time.Time) {
	due, _ := ParseTriggerTime(rec.TriggerCondition)
	fire(rec, now, reasonTime, 1)
	rec.FiredForTime = &due
}

// advance is one scheduler step for one record: expiry, due time triggers, tier.
func advance(rec *record, now time.Time) (changed, fired bool) {
	changed = expireIfDue(rec, now)
	if timeDue(rec, now) {
		fireTime(rec, now)
		changed, fired = true, true
	}
	if retier(rec, now) {
		changed = true
	}
	return changed, fired
}

// sessionKey bounds the key a client-chosen session name takes in bbolt.
func sessionKey(session string) []byte {
	if session == "" {
		session = "default"
	}
	if len(session) > 200 {
		sum := sha256.Sum256([]byte(session))
		session = "sha256:" + hex.EncodeToString(sum[:])
	}
	return []byte(session)
}
