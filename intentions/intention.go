package intentions

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// TriggerType says what makes an intention fire.
type TriggerType string

// The trigger types of the API.
const (
	TriggerTime         TriggerType = "time"
	TriggerSemantic     TriggerType = "semantic"
	TriggerCondition    TriggerType = "condition"
	TriggerSessionStart TriggerType = "session_start"
)

func (t TriggerType) valid() bool {
	switch t {
	case TriggerTime, TriggerSemantic, TriggerCondition, TriggerSessionStart:
		return true
	}
	return false
}

// Status is where an intention is in its life; see the package doc for the transitions.
type Status string

// The statuses of the API.
const (
	StatusPending   Status = "pending"
	StatusTriggered Status = "triggered"
	StatusExecuted  Status = "executed"
	StatusExpired   Status = "expired"
	StatusCancelled Status = "cancelled"
)

func (s Status) valid() bool {
	switch s {
	case StatusPending, StatusTriggered, StatusExecuted, StatusExpired, StatusCancelled:
		return true
	}
	return false
}

// terminal statuses never fire and always sit in the cold tier.
func (s Status) terminal() bool {
	return s == StatusExecuted || s == StatusExpired || s == StatusCancelled
}

// Tier is how recently an intention was used; only hot and warm ones are injected into chats.
type Tier string

// The tiers.
const (
	TierHot  Tier = "hot"
	TierWarm Tier = "warm"
	TierCold Tier = "cold"
)

// Limits on what a client may store.
const (
	MaxContentChars   = 4000
	MaxSemanticChars  = 500
	MaxTopics         = 32
	MaxTopicChars     = 100
	DefaultPriority   = 0.5
	DefaultMaxFires   = 1
	DefaultListLimit  = 20
	MaxListLimit      = 1000
	RecurringMaxFires = -1
)

// Intention is the stored and wire form; the JSON tags are the API's field names.
type Intention struct {
	ID                       string      `json:"id"`
	Content                  string      `json:"content"`
	TriggerType              TriggerType `json:"trigger_type"`
	TriggerCondition         string      `json:"trigger_condition"`
	Priority                 float64     `json:"priority"`
	CreatedAt                time.Time   `json:"created_at"`
	UpdatedAt                time.Time   `json:"updated_at"`
	ExpiresAt                *time.Time  `json:"expires_at"`
	Status                   Status      `json:"status"`
	FireCount                int         `json:"fire_count"`
	MaxFires                 int         `json:"max_fires"`
	RelatedTopics            []string    `json:"related_topics"`
	Tier                     Tier        `json:"tier"`
	LastFiredAt              *time.Time  `json:"last_fired_at"`
	TriggerEmbeddingComputed bool        `json:"trigger_embedding_computed"`
	// TriggerEmbedding is the semantic trigger's vector. It is persisted (see record)
	// but is no part of the API.
	TriggerEmbedding []float32 `json:"-"`
}

// CreateRequest is what a client gives to create an intention; nil pointers take defaults.
type CreateRequest struct {
	Content          string
	TriggerType      TriggerType
	TriggerCondition string
	Priority         *float64 // default 0.5
	MaxFires         *int     // default 1
	ExpiresAt        *time.Time
	RelatedTopics    []string
}

// Patch changes some fields of an intention; nil fields stay as they are.
type Patch struct {
	Priority         *float64
	TriggerCondition *string // validated against the intention's trigger type
	ExpiresAt        *time.Time
	ClearExpiresAt   bool // expires_at: null
	Status           *Status
}

// ListOptions filter and order List. Zero values mean "any" and the defaults.
type ListOptions struct {
	Status      Status
	TriggerType TriggerType
	Limit       int    // default 20, at most 1000
	Sort        string // priority_desc (default), priority_asc, created_desc, created_asc
}

// Sort orders for ListOptions.Sort.
const (
	SortPriorityDesc = "priority_desc"
	SortPriorityAsc  = "priority_asc"
	SortCreatedDesc  = "created_desc"
	SortCreatedAsc   = "created_asc"
)

// ErrNotFound means no intention has the id.
var ErrNotFound = errors.New("intention not found")

// ErrInvalidTransition is what a *TransitionError matches with errors.Is.
var ErrInvalidTransition = errors.New("invalid status transition")

// TransitionError is a refused status change. Its text names both statuses.
type TransitionError struct {
	From, To Status
	Reason   string // optional: why a normally allowed change was refused
}

func (e *TransitionError) Error() string {
	msg := fmt.Sprintf("status: cannot change from %s to %s", e.From, e.To)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// Is makes errors.Is(err, ErrInvalidTransition) true.
func (e *TransitionError) Is(target error) bool { return target == ErrInvalidTransition }

// ValidationError is a bad field in a request. Message already names the field.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string { return e.Message }

func invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Message: field + ": " + fmt.Sprintf(format, args...)}
}

// newID returns "int_" and 12 lowercase hex digits from crypto/rand.
func newID() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	return "int_" + hex.EncodeToString(b[:])
}

// timeLayouts are the accepted forms of a time trigger, most specific first.
// Forms without a zone are UTC.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04",
	"2006-01-02",
}

// ParseTriggerTime reads a time trigger's condition: RFC 3339 (ISO 8601 with a zone),
// or the same without a zone (taken as UTC), or a bare date (midnight UTC).
func ParseTriggerTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not an ISO 8601 datetime: %q", s)
}

// validateCondition checks a trigger condition against its type and returns it trimmed.
func validateCondition(tt TriggerType, cond string) (string, error) {
	cond = strings.TrimSpace(cond)
	switch tt {
	case TriggerTime:
		if _, err := ParseTriggerTime(cond); err != nil {
			return "", invalid("trigger_condition", "time trigger needs an ISO 8601 datetime such as 2026-02-17T09:00:00Z (no zone means UTC)")
		}
	case TriggerSemantic:
		if cond == "" || utf8.RuneCountInString(cond) > MaxSemanticChars || !utf8.ValidString(cond) {
			return "", invalid("trigger_condition", "semantic trigger needs a keyword or phrase of 1 to %d characters", MaxSemanticChars)
		}
		if len(contentTerms(cond)) == 0 {
			return "", invalid("trigger_condition", "semantic trigger needs at least one content word, not only words such as %q", "the")
		}
	case TriggerCondition:
		if _, err := ParseCondition(cond); err != nil {
			return "", invalid("trigger_condition", "%v; the accepted form is comparisons such as emotion=frustration or energy.total_tokens > 1000 joined by && || ! and parentheses", err)
		}
	case TriggerSessionStart:
		if cond != "*" {
			return "", invalid("trigger_condition", `session_start trigger needs "*"`)
		}
	default:
		return "", invalid("trigger_type", "must be one of time, semantic, condition, session_start")
	}
	return cond, nil
}

func validatePriority(p float64) error {
	if !(p >= 0 && p <= 1) { // also refuses NaN
		return invalid("priority", "must be a number from 0 to 1")
	}
	return nil
}

func validateExpiry(t time.Time, now time.Time) error {
	if !t.After(now) {
		return invalid("expires_at", "must be an RFC 3339 time in the future")
	}
	return nil
}

// validateCreate checks a request and returns the intention it describes, without id,
// times, or embedding.
func validateCreate(req CreateRequest, now time.Time) (Intention, error) {
	in := Intention{
		Content:       req.Content,
		TriggerType:   req.TriggerType,
		Priority:      DefaultPriority,
		MaxFires:      DefaultMaxFires,
		Status:        StatusPending,
		RelatedTopics: []string{},
	}
	if strings.TrimSpace(req.Content) == "" {
		return Intention{}, invalid("content", "required: the text of the reminder")
	}
	if !utf8.ValidString(req.Content) {
		return Intention{}, invalid("content", "must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(req.Content); n > MaxContentChars {
		return Intention{}, invalid("content", "must be at most %d characters, got %d", MaxContentChars, n)
	}
	if !req.TriggerType.valid() {
		return Intention{}, invalid("trigger_type", "must be one of time, semantic, condition, session_start")
	}
	cond, err := validateCondition(req.TriggerType, req.TriggerCondition)
	if err != nil {
		return Intention{}, err
	}
	in.TriggerCondition = cond
	if req.Priority != nil {
		if err := validatePriority(*req.Priority); err != nil {
			return Intention{}, err
		}
		in.Priority = *req.Priority
	}
	if req.MaxFires != nil {
		if m := *req.MaxFires; m != RecurringMaxFires && m < 1 {
			return Intention{}, invalid("max_fires", "must be -1 (recurring) or at least 1, got %d", m)
		}
		in.MaxFires = *req.MaxFires
	}
	if req.ExpiresAt != nil {
		if err := validateExpiry(*req.ExpiresAt, now); err != nil {
			return Intention{}, err
		}
		t := req.ExpiresAt.UTC()
		in.ExpiresAt = &t
	}
	if len(req.RelatedTopics) > MaxTopics {
		return Intention{}, invalid("related_topics", "at most %d topics, got %d", MaxTopics, len(req.RelatedTopics))
	}
	for i, topic := range req.RelatedTopics {
		if strings.TrimSpace(topic) == "" || utf8.RuneCountInString(topic) > MaxTopicChars || !utf8.ValidString(topic) {
			return Intention{}, invalid("related_topics", "item %d must be a non-empty string of at most %d characters", i, MaxTopicChars)
		}
		in.RelatedTopics = append(in.RelatedTopics, topic)
	}
	return in, nil
}

func validateListOptions(o ListOptions) (ListOptions, error) {
	if o.Status != "" && !o.Status.valid() {
		return o, invalid("status", "must be one of pending, triggered, executed, expired, cancelled")
	}
	if o.TriggerType != "" && !o.TriggerType.valid() {
		return o, invalid("trigger_type", "must be one of time, semantic, condition, session_start")
	}
	switch {
	case o.Limit == 0:
		o.Limit = DefaultListLimit
	case o.Limit < 0 || o.Limit > MaxListLimit:
		return o, invalid("limit", "must be from 1 to %d", MaxListLimit)
	}
	switch o.Sort {
	case "":
		o.Sort = SortPriorityDesc
	case SortPriorityDesc, SortPriorityAsc, SortCreatedDesc, SortCreatedAsc:
	default:
		return o, invalid("sort", "must be one of priority_desc, priority_asc, created_desc, created_asc")
	}
	return o, nil
}

// finite reports whether every component is a finite number, so the vector can be
// stored as JSON and compared.
func finite(v []float32) bool {
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false
		}
	}
	return true
}
