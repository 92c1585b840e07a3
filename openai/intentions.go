package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/aria-node/aria/intentions"
)

// Intentions is the store behind /v1/intentions (the node's intentions.Store).
type Intentions interface {
	Create(ctx context.Context, req intentions.CreateRequest) (intentions.Intention, error)
	Get(ctx context.Context, id string) (intentions.Intention, error)
	List(ctx context.Context, opts intentions.ListOptions) ([]intentions.Intention, error)
	Update(ctx context.Context, id string, p intentions.Patch) (intentions.Intention, error)
	Cancel(ctx context.Context, id string) (intentions.Intention, error)
	Fire(ctx context.Context, id string) (intentions.Intention, error)
}

// IntentionCreated is the 201 body of POST /v1/intentions.
type IntentionCreated struct {
	ID                       string `json:"id"`
	Status                   string `json:"status"`
	CreatedAt                string `json:"created_at"`
	TriggerEmbeddingComputed bool   `json:"trigger_embedding_computed"`
}

// Intention is an intention object on the wire: the body of GET, PATCH, DELETE and
// POST …/fire on /v1/intentions/{id}, and each item of GET /v1/intentions. Its fields
// are the spec's (content … related_topics, id, status, created_at,
// trigger_embedding_computed) plus the store's bookkeeping the README documents
// (updated_at, fire_count, tier, last_fired_at). toIntention is the one conversion
// from intentions.Intention, so a change to the domain type cannot change the wire
// (TestIntentionWireShape).
type Intention struct {
	ID                       string     `json:"id"`
	Content                  string     `json:"content"`
	TriggerType              string     `json:"trigger_type"`
	TriggerCondition         string     `json:"trigger_condition"`
	Priority                 float64    `json:"priority"`
	CreatedAt                time.Time  `json:"created_at"`
	UpdatedAt                time.Time  `json:"updated_at"`
	ExpiresAt                *time.Time `json:"expires_at"`
	Status                   string     `json:"status"`
	FireCount                int        `json:"fire_count"`
	MaxFires                 int        `json:"max_fires"`
	RelatedTopics            []string   `json:"related_topics"`
	Tier                     string     `json:"tier"`
	LastFiredAt              *time.Time `json:"last_fired_at"`
	TriggerEmbeddingComputed bool       `json:"trigger_embedding_computed"`
}

// toIntention is an intention as the API shows it (never its trigger embedding).
func toIntention(in intentions.Intention) Intention {
	return Intention{ID: in.ID, Content: in.Content, TriggerType: string(in.TriggerType), TriggerCondition: in.TriggerCondition,
		Priority: in.Priority, CreatedAt: in.CreatedAt, UpdatedAt: in.UpdatedAt, ExpiresAt: in.ExpiresAt, Status: string(in.Status),
		FireCount: in.FireCount, MaxFires: in.MaxFires, RelatedTopics: in.RelatedTopics, Tier: string(in.Tier),
		LastFiredAt: in.LastFiredAt, TriggerEmbeddingComputed: in.TriggerEmbeddingComputed}
}

// toIntentionCreated is the 201 body of POST /v1/intentions.
func toIntentionCreated(in intentions.Intention) IntentionCreated {
	return IntentionCreated{ID: in.ID, Status: string(in.Status), CreatedAt: in.CreatedAt.UTC().Format(time.RFC3339),
		TriggerEmbeddingComputed: in.TriggerEmbeddingComputed}
}

// intentionCreateBody is POST /v1/intentions. Pointers tell absent from zero.
type intentionCreateBody struct {
	Content          *string  `json:"content"`
	TriggerType      *string  `json:"trigger_type"`
	TriggerCondition *string  `json:"trigger_condition"`
	Priority         *float64 `json:"priority"`
	MaxFires         *int     `json:"max_fires"`
	ExpiresAt        *string  `json:"expires_at"`
	RelatedTopics    []string `json:"related_topics"`
}

// toCreateRequest checks the body's required fields and converts it for the store
// (which validates the values).
func (b intentionCreateBody) toCreateRequest() (intentions.CreateRequest, *APIError) {
	switch {
	case b.Content == nil:
		return intentions.CreateRequest{}, invalidRequest("'content' field is required")
	case b.TriggerType == nil:
		return intentions.CreateRequest{}, invalidRequest("'trigger_type' field is required (time, semantic, condition or session_start)")
	case b.TriggerCondition == nil:
		return intentions.CreateRequest{}, invalidRequest("'trigger_condition' field is required")
	}
	req := intentions.CreateRequest{
		Content: *b.Content, TriggerType: intentions.TriggerType(*b.TriggerType), TriggerCondition: *b.TriggerCondition,
		Priority: b.Priority, MaxFires: b.MaxFires, RelatedTopics: b.RelatedTopics,
	}
	if b.ExpiresAt != nil {
		t, apiErr := parseTime("expires_at", *b.ExpiresAt)
		if apiErr != nil {
			return intentions.CreateRequest{}, apiErr
		}
		req.ExpiresAt = &t
	}
	return req, nil
}

// intentionPatchBody is PATCH /v1/intentions/{id}.
type intentionPatchBody struct {
	Priority         *float64 `json:"priority"`
	TriggerCondition *string  `json:"trigger_condition"`
	Status           *string  `json:"status"`
	ExpiresAt        *string  `json:"expires_at"`
}

// toPatch converts the body for the store; clearExpiry is "expires_at": null.
func (b intentionPatchBody) toPatch(clearExpiry bool) (intentions.Patch, *APIError) {
	p := intentions.Patch{Priority: b.Priority, TriggerCondition: b.TriggerCondition, ClearExpiresAt: clearExpiry}
	if b.Status != nil {
		st := intentions.Status(*b.Status)
		p.Status = &st
	}
	if b.ExpiresAt != nil {
		t, apiErr := parseTime("expires_at", *b.ExpiresAt)
		if apiErr != nil {
			return intentions.Patch{}, apiErr
		}
		p.ExpiresAt = &t
	}
	return p, nil
}

// patchable are the fields PATCH /v1/intentions/{id} may change.
var patchable = map[string]bool{"priority": true, "trigger_condition": true, "expires_at": true, "status": true}

func (s *Server) intentionsOr503(w http.ResponseWriter) bool {
	if s.cfg.Intentions == nil {
		writeError(w, Refusal("intentions_unavailable", "intentions are not enabled on this node", 0))
		return false
	}
	return true
}

// parseTime accepts RFC 3339 (ISO 8601 with a zone), as the API's datetimes are.
func parseTime(field, v string) (time.Time, *APIError) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, invalidRequest("'%s' must be an ISO 8601 datetime with a zone, such as 2026-03-01T00:00:00Z; got %q", field, v)
	}
	return t, nil
}

func (s *Server) handleIntentionCreate(w http.ResponseWriter, r *http.Request) {
	if !s.intentionsOr503(w) {
		return
	}
	var b intentionCreateBody
	if !s.decodeRequest(w, r, &b) {
		return
	}
	req, apiErr := b.toCreateRequest()
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	in, err := s.cfg.Intentions.Create(r.Context(), req)
	if err != nil {
		writeError(w, fromIntentions(err))
		return
	}
	w.Header().Set("Location", "/v1/intentions/"+in.ID)
	writeJSON(w, http.StatusCreated, toIntentionCreated(in))
}

func (s *Server) handleIntentionList(w http.ResponseWriter, r *http.Request) {
	if !s.intentionsOr503(w) {
		return
	}
	q := r.URL.Query()
	opts := intentions.ListOptions{Status: intentions.Status(q.Get("status")), TriggerType: intentions.TriggerType(q.Get("trigger_type")), Sort: q.Get("sort")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, invalidRequest("'limit' must be an integer from 1 to 1000, got %q", v))
			return
		}
		opts.Limit = n
	}
	list, err := s.cfg.Intentions.List(r.Context(), opts)
	if err != nil {
		writeError(w, fromIntentions(err))
		return
	}
	out := make([]Intention, 0, len(list))
	for _, in := range list {
		out = append(out, toIntention(in))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleIntentionGet(w http.ResponseWriter, r *http.Request) {
	s.intentionByID(w, r, Intentions.Get)
}

// intentionByID runs op on the intention the path names and answers it (GET, DELETE
// and POST …/fire on /v1/intentions/{id}).
func (s *Server) intentionByID(w http.ResponseWriter, r *http.Request, op func(Intentions, context.Context, string) (intentions.Intention, error)) {
	if !s.intentionsOr503(w) {
		return
	}
	s.intentionResult(w)(op(s.cfg.Intentions, r.Context(), r.PathValue("id")))
}

func (s *Server) handleIntentionPatch(w http.ResponseWriter, r *http.Request) {
	if !s.intentionsOr503(w) {
		return
	}
	// The body is decoded twice: as its members, to check which it names (and
	// whether expires_at is null), then as the patch.
	var body json.RawMessage
	if !s.decodeRequest(w, r, &body) {
		return
	}
	var raw map[string]json.RawMessage
	if apiErr := decodeBody(body, &raw); apiErr != nil {
		writeError(w, apiErr)
		return
	}
	for k, v := range raw {
		if !patchable[k] {
			writeError(w, invalidRequest("'%s' cannot be changed; PATCH accepts priority, trigger_condition, expires_at and status", k))
			return
		}
		if k != "expires_at" && string(bytes.TrimSpace(v)) == "null" {
			writeError(w, invalidRequest("'%s' cannot be null (only expires_at can be cleared)", k))
			return
		}
	}
	if len(raw) == 0 {
		writeError(w, invalidRequest("nothing to change; PATCH accepts priority, trigger_condition, expires_at and status"))
		return
	}
	var b intentionPatchBody
	if apiErr := decodeBody(body, &b); apiErr != nil {
		writeError(w, apiErr)
		return
	}
	_, clear := raw["expires_at"]
	p, apiErr := b.toPatch(clear && b.ExpiresAt == nil)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	s.intentionResult(w)(s.cfg.Intentions.Update(r.Context(), r.PathValue("id"), p))
}

func (s *Server) handleIntentionDelete(w http.ResponseWriter, r *http.Request) {
	s.intentionByID(w, r, Intentions.Cancel)
}

func (s *Server) handleIntentionFire(w http.ResponseWriter, r *http.Request) {
	s.intentionByID(w, r, Intentions.Fire)
}

func (s *Server) intentionResult(w http.ResponseWriter) func(intentions.Intention, error) {
	return func(in intentions.Intention, err error) {
		if err != nil {
			writeError(w, fromIntentions(err))
			return
		}
		writeJSON(w, http.StatusOK, toIntention(in))
	}
}

// fromIntentions maps the store's errors to the API's.
func fromIntentions(err error) *APIError {
	var ve *intentions.ValidationError
	switch {
	case errors.As(err, &ve):
		return invalidRequest("%s", ve.Message)
	case errors.Is(err, intentions.ErrNotFound):
		return &APIError{Status: http.StatusNotFound, Type: TypeNotFound, Code: "intention_not_found", Message: err.Error()}
	case errors.Is(err, intentions.ErrInvalidTransition):
		return &APIError{Status: http.StatusConflict, Type: TypeInvalidRequest, Code: "invalid_status_transition", Message: "Invalid request: " + err.Error()}
	}
	return &APIError{Status: http.StatusInternalServerError, Type: TypeServer, Code: "internal_error", Message: fmt.Sprintf("intentions: %v", err)}
}
