package intentions

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// t0 is the test clock's start, the spec example's created_at.
var t0 = time.Date(2026, 2, 13, 23, 0, 0, 0, time.UTC)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testEnv is a store on a real bbolt file in a temp dir, with a fake clock.
type testEnv struct {
	t     *testing.T
	path  string
	db    *bbolt.DB
	clock *fakeClock
	opts  Options
	s     *Store
}

func newEnv(t *testing.T, opts Options) *testEnv {
	t.Helper()
	e := &testEnv{t: t, path: filepath.Join(t.TempDir(), "node.db"), clock: &fakeClock{t: t0}, opts: opts}
	e.opts.Now = e.clock.Now
	e.open()
	t.Cleanup(func() {
		if e.db != nil {
			e.db.Close()
		}
	})
	return e
}

func (e *testEnv) open() {
	e.t.Helper()
	db, err := bbolt.Open(e.path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		e.t.Fatalf("open bbolt %s: %v", e.path, err)
	}
	s, err := Open(db, e.opts)
	if err != nil {
		db.Close()
		e.t.Fatalf("open store: %v", err)
	}
	e.db, e.s = db, s
}

// reopen closes the bbolt file and opens it again, as a node restart does.
func (e *testEnv) reopen() {
	e.t.Helper()
	if err := e.db.Close(); err != nil {
		e.t.Fatalf("close bbolt: %v", err)
	}
	e.db = nil
	e.open()
}

func (e *testEnv) create(req CreateRequest) Intention {
	e.t.Helper()
	in, err := e.s.Create(context.Background(), req)
	if err != nil {
		e.t.Fatalf("create %+v: %v", req, err)
	}
	return in
}

func (e *testEnv) get(id string) Intention {
	e.t.Helper()
	in, err := e.s.Get(context.Background(), id)
	if err != nil {
		e.t.Fatalf("get %s: %v", id, err)
	}
	return in
}

func (e *testEnv) tick() {
	e.t.Helper()
	if err := e.s.Tick(context.Background()); err != nil {
		e.t.Fatalf("tick: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func timeReq(content string, at time.Time) CreateRequest {
	return CreateRequest{Content: content, TriggerType: TriggerTime, TriggerCondition: at.Format(time.RFC3339)}
}

func TestCreateDefaultsAndGet(t *testing.T) {
	e := newEnv(t, Options{})
	in := e.create(CreateRequest{Content: "Ask about Q4 presentation results", TriggerType: TriggerSemantic, TriggerCondition: "  Q4 presentation results "})
	if !strings.HasPrefix(in.ID, "int_") || len(in.ID) != 16 || strings.Trim(in.ID[4:], "0123456789abcdef") != "" {
		t.Errorf("id %q: want int_ and 12 lowercase hex digits", in.ID)
	}
	want := Intention{
		ID: in.ID, Content: "Ask about Q4 presentation results", TriggerType: TriggerSemantic,
		TriggerCondition: "Q4 presentation results", Priority: 0.5, CreatedAt: t0, UpdatedAt: t0,
		Status: StatusPending, MaxFires: 1, RelatedTopics: []string{}, Tier: TierHot, TriggerEmbeddingComputed: true,
	}
	if len(in.TriggerEmbedding) != lexicalDims {
		t.Errorf("embedding has %d dims, want %d", len(in.TriggerEmbedding), lexicalDims)
	}
	in.TriggerEmbedding = nil
	if got, _ := json.Marshal(in); string(got) != string(must(json.Marshal(want))) {
		t.Errorf("created\n got %s\nwant %s", got, must(json.Marshal(want)))
	}
	got := e.get(in.ID)
	if len(got.TriggerEmbedding) != lexicalDims {
		t.Errorf("stored embedding has %d dims", len(got.TriggerEmbedding))
	}
	got.TriggerEmbedding = nil
	if string(must(json.Marshal(got))) != string(must(json.Marshal(want))) {
		t.Errorf("get\n got %s\nwant %s", must(json.Marshal(got)), must(json.Marshal(want)))
	}
	if _, err := e.s.Get(context.Background(), "int_000000000000"); !errors.Is(err, ErrNotFound) || err.Error() != "intention not found: int_000000000000" {
		t.Errorf("get unknown id: %v, want ErrNotFound", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestIntentionJSON pins the wire form: the spec's field names, null for absent times,
// [] for no topics, no embedding.
func TestIntentionJSON(t *testing.T) {
	in := Intention{
		ID: "int_a1b2c3d4e5f6", Content: "Ask about Q4 presentation results", TriggerType: TriggerTime,
		TriggerCondition: "2026-02-17T09:00:00Z", Priority: 0.8, CreatedAt: t0, UpdatedAt: t0,
		Status: StatusPending, MaxFires: 1, RelatedTopics: []string{"project_alpha", "quarterly_review"},
		Tier: TierHot, TriggerEmbedding: []float32{1, 2},
	}
	const want = `{"id":"int_a1b2c3d4e5f6","content":"Ask about Q4 presentation results","trigger_type":"time",` +
		`"trigger_condition":"2026-02-17T09:00:00Z","priority":0.8,"created_at":"2026-02-13T23:00:00Z",` +
		`"updated_at":"2026-02-13T23:00:00Z","expires_at":null,"status":"pending","fire_count":0,"max_fires":1,` +
		`"related_topics":["project_alpha","quarterly_review"],"tier":"hot","last_fired_at":null,` +
		`"trigger_embedding_computed":false}`
	if got := string(must(json.Marshal(in))); got != want {
		t.Errorf("json\n got %s\nwant %s", got, want)
	}
}

func TestCreateValidation(t *testing.T) {
	ok := CreateRequest{Content: "call mom", TriggerType: TriggerTime, TriggerCondition: "2026-02-17T09:00:00Z"}
	with := func(f func(*CreateRequest)) CreateRequest { r := ok; f(&r); return r }
	tests := []struct {
		name  string
		req   CreateRequest
		field string // "" means valid
	}{
		{"valid time", ok, ""},
		{"time with offset", with(func(r *CreateRequest) { r.TriggerCondition = "2026-02-17T09:00:00+01:00" }), ""},
		{"time without zone", with(func(r *CreateRequest) { r.TriggerCondition = "2026-02-17T09:00:00" }), ""},
		{"time date only", with(func(r *CreateRequest) { r.TriggerCondition = "2026-02-17" }), ""},
		{"time in the past", with(func(r *CreateRequest) { r.TriggerCondition = "2020-01-01T00:00:00Z" }), ""},
		{"empty content", with(func(r *CreateRequest) { r.Content = "" }), "content"},
		{"blank content", with(func(r *CreateRequest) { r.Content = " \n\t" }), "content"},
		{"content too long", with(func(r *CreateRequest) { r.Content = strings.Repeat("é", 4001) }), "content"},
		{"content at limit", with(func(r *CreateRequest) { r.Content = strings.Repeat("é", 4000) }), ""},
		{"content not utf8", with(func(r *CreateRequest) { r.Content = "a\xffb" }), "content"},
		{"missing trigger type", with(func(r *CreateRequest) { r.TriggerType = "" }), "trigger_type"},
		{"unknown trigger type", with(func(r *CreateRequest) { r.TriggerType = "cron" }), "trigger_type"},
		{"bad time", with(func(r *CreateRequest) { r.TriggerCondition = "tomorrow 9am" }), "trigger_condition"},
		{"empty time", with(func(r *CreateRequest) { r.TriggerCondition = "" }), "trigger_condition"},
		{"semantic ok", CreateRequest{Content: "x", TriggerType: TriggerSemantic, TriggerCondition: "taxes"}, ""},
		{"semantic empty", CreateRequest{Content: "x", TriggerType: TriggerSemantic, TriggerCondition: "  "}, "trigger_condition"},
		{"semantic only stopwords", CreateRequest{Content: "x", TriggerType: TriggerSemantic, TriggerCondition: "what about it?"}, "trigger_condition"},
		{"semantic too long", CreateRequest{Content: "x", TriggerType: TriggerSemantic, TriggerCondition: strings.Repeat("a", 501)}, "trigger_condition"},
		{"condition ok", CreateRequest{Content: "x", TriggerType: TriggerCondition, TriggerCondition: "emotion=frustration"}, ""},
		{"condition bad", CreateRequest{Content: "x", TriggerType: TriggerCondition, TriggerCondition: "emotion = = x"}, "trigger_condition"},
		{"condition empty", CreateRequest{Content: "x", TriggerType: TriggerCondition}, "trigger_condition"},
		{"session star", CreateRequest{Content: "x", TriggerType: TriggerSessionStart, TriggerCondition: "*"}, ""},
		{"session not star", CreateRequest{Content: "x", TriggerType: TriggerSessionStart, TriggerCondition: "always"}, "trigger_condition"},
		{"priority 0", with(func(r *CreateRequest) { r.Priority = ptr(0.0) }), ""},
		{"priority 1", with(func(r *CreateRequest) { r.Priority = ptr(1.0) }), ""},
		{"priority negative", with(func(r *CreateRequest) { r.Priority = ptr(-0.1) }), "priority"},
		{"priority above 1", with(func(r *CreateRequest) { r.Priority = ptr(1.5) }), "priority"},
		{"max fires -1", with(func(r *CreateRequest) { r.MaxFires = ptr(-1) }), ""},
		{"max fires 3", with(func(r *CreateRequest) { r.MaxFires = ptr(3) }), ""},
		{"max fires 0", with(func(r *CreateRequest) { r.MaxFires = ptr(0) }), "max_fires"},
		{"max fires -2", with(func(r *CreateRequest) { r.MaxFires = ptr(-2) }), "max_fires"},
		{"expires future", with(func(r *CreateRequest) { r.ExpiresAt = ptr(t0.Add(time.Hour)) }), ""},
		{"expires now", with(func(r *CreateRequest) { r.ExpiresAt = ptr(t0) }), "expires_at"},
		{"expires past", with(func(r *CreateRequest) { r.ExpiresAt = ptr(t0.Add(-time.Hour)) }), "expires_at"},
		{"topics ok", with(func(r *CreateRequest) { r.RelatedTopics = []string{"a", "b"} }), ""},
		{"too many topics", with(func(r *CreateRequest) { r.RelatedTopics = make([]string, 33) }), "related_topics"},
		{"empty topic", with(func(r *CreateRequest) { r.RelatedTopics = []string{"a", ""} }), "related_topics"},
		{"long topic", with(func(r *CreateRequest) { r.RelatedTopics = []string{strings.Repeat("t", 101)} }), "related_topics"},
	}
	e := newEnv(t, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := e.s.Create(context.Background(), tt.req)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				if in.ID == "" {
					t.Fatal("valid create returned no id")
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want *ValidationError for %s, got %v", tt.field, err)
			}
			if ve.Field != tt.field || !strings.HasPrefix(ve.Error(), tt.field+": ") {
				t.Fatalf("error %q (field %q), want it to name %s", ve.Error(), ve.Field, tt.field)
			}
		})
	}
	all, err := e.s.List(context.Background(), ListOptions{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	valid := 0
	for _, tt := range tests {
		if tt.field == "" {
			valid++
		}
	}
	if len(all) != valid {
		t.Errorf("stored %d intentions, want only the %d valid ones", len(all), valid)
	}
}

func TestTimeTriggerMessage(t *testing.T) {
	e := newEnv(t, Options{})
	_, err := e.s.Create(context.Background(), CreateRequest{Content: "x", TriggerType: TriggerTime, TriggerCondition: "soon"})
	const want = "trigger_condition: time trigger needs an ISO 8601 datetime such as 2026-02-17T09:00:00Z"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %v, want it to start %q", err, want)
	}
}

func TestListFiltersSortsAndLimits(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	var ids []string
	for i := range 25 {
		req := CreateRequest{Content: "n", TriggerType: TriggerSemantic, TriggerCondition: "topic", Priority: ptr(float64(i%5) / 4)}
		if i%2 == 1 {
			req = CreateRequest{Content: "n", TriggerType: TriggerSessionStart, TriggerCondition: "*", Priority: ptr(float64(i%5) / 4)}
		}
		ids = append(ids, e.create(req).ID)
		e.clock.Advance(time.Minute)
	}
	if _, err := e.s.Cancel(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}

	all, err := e.s.List(ctx, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != DefaultListLimit {
		t.Errorf("default limit: %d items, want %d", len(all), DefaultListLimit)
	}

	tests := []struct {
		name  string
		opts  ListOptions
		count int
		order func(a, b Intention) bool // must hold for every adjacent pair
	}{
		{"priority_desc default", ListOptions{Limit: 100}, 25, func(a, b Intention) bool {
			return a.Priority > b.Priority || a.Priority == b.Priority && !a.CreatedAt.After(b.CreatedAt)
		}},
		{"priority_asc", ListOptions{Limit: 100, Sort: SortPriorityAsc}, 25, func(a, b Intention) bool { return a.Priority <= b.Priority }},
		{"created_desc", ListOptions{Limit: 100, Sort: SortCreatedDesc}, 25, func(a, b Intention) bool { return a.CreatedAt.After(b.CreatedAt) }},
		{"created_asc", ListOptions{Limit: 100, Sort: SortCreatedAsc}, 25, func(a, b Intention) bool { return a.CreatedAt.Before(b.CreatedAt) }},
		{"status cancelled", ListOptions{Status: StatusCancelled}, 1, nil},
		{"status pending", ListOptions{Status: StatusPending, Limit: 100}, 24, nil},
		{"trigger type", ListOptions{TriggerType: TriggerSessionStart, Limit: 100}, 12, nil},
		{"both filters", ListOptions{TriggerType: TriggerSemantic, Status: StatusPending, Limit: 100}, 12, nil},
		{"limit 3", ListOptions{Limit: 3, Sort: SortCreatedAsc}, 3, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.s.List(ctx, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.count {
				t.Fatalf("%d items, want %d", len(got), tt.count)
			}
			for i := 1; i < len(got) && tt.order != nil; i++ {
				if !tt.order(got[i-1], got[i]) {
					t.Fatalf("items %d and %d out of order: %v/%v then %v/%v", i-1, i, got[i-1].Priority, got[i-1].CreatedAt, got[i].Priority, got[i].CreatedAt)
				}
			}
			for _, in := range got {
				if tt.opts.Status != "" && in.Status != tt.opts.Status || tt.opts.TriggerType != "" && in.TriggerType != tt.opts.TriggerType {
					t.Fatalf("%s (%s, %s) does not match the filter", in.ID, in.Status, in.TriggerType)
				}
			}
		})
	}
	first, _ := e.s.List(ctx, ListOptions{Limit: 3, Sort: SortCreatedAsc})
	if first[0].ID != ids[0] || first[2].ID != ids[2] {
		t.Errorf("created_asc starts %s %s, want %s %s", first[0].ID, first[2].ID, ids[0], ids[2])
	}

	for _, bad := range []struct {
		opts  ListOptions
		field string
	}{
		{ListOptions{Status: "done"}, "status"},
		{ListOptions{TriggerType: "cron"}, "trigger_type"},
		{ListOptions{Limit: -1}, "limit"},
		{ListOptions{Limit: 1001}, "limit"},
		{ListOptions{Sort: "random"}, "sort"},
	} {
		var ve *ValidationError
		if _, err := e.s.List(ctx, bad.opts); !errors.As(err, &ve) || ve.Field != bad.field {
			t.Errorf("list %+v: %v, want a ValidationError on %s", bad.opts, err, bad.field)
		}
	}
}

func TestEmptyListIsNotNil(t *testing.T) {
	e := newEnv(t, Options{})
	got, err := e.s.List(context.Background(), ListOptions{})
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("empty list: %#v, %v; want [] (so it marshals as [])", got, err)
	}
}

func TestPersistsAcrossReopen(t *testing.T) {
	e := newEnv(t, Options{})
	a := e.create(CreateRequest{Content: "semantic one", TriggerType: TriggerSemantic, TriggerCondition: "dentist appointment",
		Priority: ptr(0.9), MaxFires: ptr(3), ExpiresAt: ptr(t0.Add(48 * time.Hour)), RelatedTopics: []string{"health"}})
	b := e.create(CreateRequest{Content: "condition one", TriggerType: TriggerCondition, TriggerCondition: "peers.count > 2"})
	if _, err := e.s.Fire(context.Background(), b.ID); err != nil {
		t.Fatal(err)
	}
	b = e.get(b.ID)
	e.reopen()
	for _, want := range []Intention{a, b} {
		got := e.get(want.ID)
		if string(must(json.Marshal(got))) != string(must(json.Marshal(want))) {
			t.Errorf("after reopen\n got %s\nwant %s", must(json.Marshal(got)), must(json.Marshal(want)))
		}
		if len(got.TriggerEmbedding) != len(want.TriggerEmbedding) || cosine(got.TriggerEmbedding, want.TriggerEmbedding) < 0.9999 && len(want.TriggerEmbedding) > 0 {
			t.Errorf("%s: embedding not kept across reopen", want.ID)
		}
	}
}

func TestUpdate(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	sem := e.create(CreateRequest{Content: "x", TriggerType: TriggerSemantic, TriggerCondition: "dentist"})
	tm := e.create(timeReq("y", t0.Add(time.Hour)))
	e.clock.Advance(time.Minute)

	got, err := e.s.Update(ctx, sem.ID, Patch{Priority: ptr(0.9), TriggerCondition: ptr("tax return"), ExpiresAt: ptr(t0.Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	if got.Priority != 0.9 || got.TriggerCondition != "tax return" || got.ExpiresAt == nil || !got.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("patched: %+v", got)
	}
	if !got.UpdatedAt.Equal(t0.Add(time.Minute)) || !got.CreatedAt.Equal(t0) {
		t.Errorf("updated_at %v created_at %v", got.UpdatedAt, got.CreatedAt)
	}
	if cosine(got.TriggerEmbedding, sem.TriggerEmbedding) > 0.5 || !got.TriggerEmbeddingComputed {
		t.Errorf("trigger embedding not recomputed for the new phrase")
	}
	got, err = e.s.Update(ctx, sem.ID, Patch{ClearExpiresAt: true})
	if err != nil || got.ExpiresAt != nil {
		t.Errorf("clear expires_at: %v, %v", got.ExpiresAt, err)
	}

	bad := []struct {
		name  string
		id    string
		p     Patch
		field string
	}{
		{"priority", sem.ID, Patch{Priority: ptr(2.0)}, "priority"},
		{"semantic condition empty", sem.ID, Patch{TriggerCondition: ptr("")}, "trigger_condition"},
		{"time condition not a time", tm.ID, Patch{TriggerCondition: ptr("dentist")}, "trigger_condition"},
		{"expires in the past", sem.ID, Patch{ExpiresAt: ptr(t0)}, "expires_at"},
		{"expires set and cleared", sem.ID, Patch{ExpiresAt: ptr(t0.Add(time.Hour)), ClearExpiresAt: true}, "expires_at"},
		{"unknown status", sem.ID, Patch{Status: ptr(Status("done"))}, "status"},
	}
	for _, tt := range bad {
		var ve *ValidationError
		if _, err := e.s.Update(ctx, tt.id, tt.p); !errors.As(err, &ve) || ve.Field != tt.field {
			t.Errorf("%s: %v, want a ValidationError on %s", tt.name, err, tt.field)
		}
	}
	if got := e.get(tm.ID); got.TriggerCondition != tm.TriggerCondition {
		t.Errorf("a refused patch changed the intention: %q", got.TriggerCondition)
	}
	if _, err := e.s.Update(ctx, "int_ffffffffffff", Patch{Priority: ptr(0.1)}); !errors.Is(err, ErrNotFound) {
		t.Errorf("update unknown: %v", err)
	}
	if _, err := e.s.Update(ctx, "int_ffffffffffff", Patch{TriggerCondition: ptr("x")}); !errors.Is(err, ErrNotFound) {
		t.Errorf("update unknown condition: %v", err)
	}
}

func TestStatusTransitions(t *testing.T) {
	tests := []struct {
		from, to Status
		ok       bool
	}{
		{StatusPending, StatusTriggered, true},
		{StatusPending, StatusExecuted, true},
		{StatusPending, StatusExpired, true},
		{StatusPending, StatusCancelled, true},
		{StatusPending, StatusPending, true},
		{StatusTriggered, StatusPending, true},
		{StatusTriggered, StatusExecuted, true},
		{StatusTriggered, StatusExpired, true},
		{StatusTriggered, StatusCancelled, true},
		{StatusExecuted, StatusPending, false},
		{StatusExecuted, StatusTriggered, false},
		{StatusExecuted, StatusCancelled, false},
		{StatusExecuted, StatusExecuted, true},
		{StatusCancelled, StatusPending, true},
		{StatusCancelled, StatusTriggered, false},
		{StatusCancelled, StatusExecuted, false},
		{StatusExpired, StatusPending, true},
		{StatusExpired, StatusTriggered, false},
		{StatusExpired, StatusCancelled, false},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(string(tt.from)+"_to_"+string(tt.to), func(t *testing.T) {
			e := newEnv(t, Options{})
			// Fires to spare, so the table is about statuses (TestNoFiresLeftNoReactivation covers the rest).
			in := e.create(CreateRequest{Content: "x", TriggerType: TriggerSessionStart, TriggerCondition: "*", MaxFires: ptr(2)})
			switch tt.from {
			case StatusTriggered:
				must(e.s.Fire(ctx, in.ID))
			case StatusPending:
			default:
				must(e.s.Update(ctx, in.ID, Patch{Status: ptr(tt.from)}))
			}
			before := e.get(in.ID)
			if before.Status != tt.from {
				t.Fatalf("setup: status %s, want %s", before.Status, tt.from)
			}
			got, err := e.s.Update(ctx, in.ID, Patch{Status: ptr(tt.to)})
			if !tt.ok {
				want := "status: cannot change from " + string(tt.from) + " to " + string(tt.to)
				if !errors.Is(err, ErrInvalidTransition) || err.Error() != want {
					t.Fatalf("err %v, want ErrInvalidTransition saying %q", err, want)
				}
				if after := e.get(in.ID); after.Status != tt.from || after.FireCount != before.FireCount {
					t.Fatalf("refused transition changed it to %s", after.Status)
				}
				return
			}
			if err != nil || got.Status != tt.to {
				t.Fatalf("got %s, %v; want %s", got.Status, err, tt.to)
			}
			wantTier := TierHot
			if tt.to.terminal() {
				wantTier = TierCold
			}
			if got.Tier != wantTier {
				t.Errorf("tier %s, want %s", got.Tier, wantTier)
			}
			if tt.from == StatusPending && tt.to == StatusTriggered && (got.FireCount != 1 || got.LastFiredAt == nil) {
				t.Errorf("PATCH to triggered is a firing: fire_count %d last_fired_at %v", got.FireCount, got.LastFiredAt)
			}
		})
	}
}

func TestReactivateExpiredNeedsLaterExpiry(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	in := e.create(CreateRequest{Content: "x", TriggerType: TriggerSessionStart, TriggerCondition: "*", ExpiresAt: ptr(t0.Add(time.Hour))})
	e.clock.Advance(2 * time.Hour)
	if got := e.get(in.ID); got.Status != StatusExpired || got.Tier != TierCold {
		t.Fatalf("read after expires_at: %s/%s, want expired/cold even before a tick", got.Status, got.Tier)
	}
	_, err := e.s.Update(ctx, in.ID, Patch{Status: ptr(StatusPending)})
	if !errors.Is(err, ErrInvalidTransition) || !strings.Contains(err.Error(), "from expired to pending") {
		t.Fatalf("reactivate without a new expiry: %v", err)
	}
	got, err := e.s.Update(ctx, in.ID, Patch{Status: ptr(StatusPending), ExpiresAt: ptr(t0.Add(5 * time.Hour))})
	if err != nil || got.Status != StatusPending || got.Tier != TierHot {
		t.Fatalf("reactivate with a later expiry: %s/%s, %v", got.Status, got.Tier, err)
	}
}

func TestCancelAndFire(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	in := e.create(CreateRequest{Content: "x", TriggerType: TriggerSemantic, TriggerCondition: "dentist"})
	e.clock.Advance(time.Minute)

	fired, err := e.s.Fire(ctx, in.ID)
	if err != nil || fired.Status != StatusTriggered || fired.FireCount != 1 || fired.LastFiredAt == nil || !fired.LastFiredAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("fire: %+v, %v", fired, err)
	}
	if _, err := e.s.Fire(ctx, in.ID); !errors.Is(err, ErrInvalidTransition) || !strings.Contains(err.Error(), "from triggered to triggered") {
		t.Errorf("fire twice: %v", err)
	}
	c, err := e.s.Cancel(ctx, in.ID)
	if err != nil || c.Status != StatusCancelled || c.Tier != TierCold {
		t.Fatalf("cancel: %s/%s, %v", c.Status, c.Tier, err)
	}
	if _, err := e.s.Cancel(ctx, in.ID); err != nil {
		t.Errorf("cancel again should be a no-op: %v", err)
	}
	if got := e.get(in.ID); got.Status != StatusCancelled {
		t.Errorf("cancelled intention not kept: %s", got.Status)
	}
	if _, err := e.s.Fire(ctx, in.ID); !errors.Is(err, ErrInvalidTransition) {
		t.Errorf("fire cancelled: %v", err)
	}
	if _, err := e.s.Fire(ctx, "int_ffffffffffff"); !errors.Is(err, ErrNotFound) || err.Error() != "intention not found: int_ffffffffffff" {
		t.Errorf("fire unknown: %v", err)
	}
	if _, err := e.s.Cancel(ctx, "int_ffffffffffff"); !errors.Is(err, ErrNotFound) {
		t.Errorf("cancel unknown: %v", err)
	}
}

// failingEmbedder fails until ok is set, then embeds lexically under another name.
type failingEmbedder struct {
	mu sync.Mutex
	ok bool
}

func (f *failingEmbedder) Embed(ctx context.Context, text string) ([]float32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.ok {
		return nil, errors.New("model not loaded")
	}
	return NewLexicalEmbedder().Embed(ctx, text)
}

func (f *failingEmbedder) Name() string { return "flaky" }

func TestEmbeddingFailureIsRetried(t *testing.T) {
	emb := &failingEmbedder{}
	e := newEnv(t, Options{Embedder: emb})
	in := e.create(CreateRequest{Content: "x", TriggerType: TriggerSemantic, TriggerCondition: "dentist appointment"})
	if in.TriggerEmbeddingComputed || in.TriggerEmbedding != nil {
		t.Fatalf("embedding computed despite the embedder failing")
	}
	ctx := context.Background()
	inj, err := e.s.Prepare(ctx, ChatContext{Messages: []string{"I have a dentist appointment"}})
	if err != nil || len(inj.Items) != 0 {
		t.Fatalf("prepare while the embedder fails: %v, %d items", err, len(inj.Items))
	}
	emb.mu.Lock()
	emb.ok = true
	emb.mu.Unlock()
	inj, err = e.s.Prepare(ctx, ChatContext{Messages: []string{"I have a dentist appointment"}})
	if err != nil || len(inj.Items) != 1 {
		t.Fatalf("prepare once the embedder works: %v, %d items", err, len(inj.Items))
	}
	if got := e.get(in.ID); !got.TriggerEmbeddingComputed {
		t.Errorf("embedding computed by Prepare was not stored")
	}
}

func TestConcurrentUseLosesNoUpdates(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	const n = 20
	var wg sync.WaitGroup
	ids := make(chan string, n)
	for range n {
		wg.Go(func() {
			in, err := e.s.Create(ctx, CreateRequest{Content: "x", TriggerType: TriggerCondition, TriggerCondition: "go", MaxFires: ptr(-1)})
			if err != nil {
				t.Error(err)
				return
			}
			ids <- in.ID
		})
	}
	for range 4 {
		wg.Go(func() {
			for range 5 {
				inj, err := e.s.Prepare(ctx, ChatContext{State: map[string]float64{"go": 1}})
				if err != nil {
					t.Error(err)
					return
				}
				if err := e.s.Delivered(ctx, inj); err != nil {
					t.Error(err)
				}
				if err := e.s.Tick(ctx); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	close(ids)
	if len(ids) != n {
		t.Fatalf("%d creates succeeded, want %d", len(ids), n)
	}
	all := must(e.s.List(ctx, ListOptions{Limit: 100}))
	if len(all) != n {
		t.Fatalf("%d stored, want %d", len(all), n)
	}
}

// FuzzDecodeRecord: whatever bytes are stored under an intention, decoding and the
// scheduler's and Prepare's use of the result never panic.
func FuzzDecodeRecord(f *testing.F) {
	full := record{Intention: Intention{ID: "int_a1b2c3d4e5f6", Content: "x", TriggerType: TriggerTime,
		TriggerCondition: "2026-02-17T09:00:00Z", Status: StatusPending, MaxFires: 1, ExpiresAt: ptr(t0)},
		Embedding: []float32{0.5, 0.5}, EmbeddingModel: "m", FireReason: "time due", FireRelevance: 1}
	f.Add(must(json.Marshal(full)))
	f.Add([]byte(`{"id":"int_1","trigger_type":"condition","trigger_condition":"a &&","status":"pending"}`))
	f.Add([]byte(`{"id":"int_1","trigger_type":"semantic","status":"triggered","trigger_embedding":[1e39]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := decodeRecord(data)
		if err != nil {
			return
		}
		now := t0.Add(time.Hour)
		advance(rec, now)
		scoreOf(rec, now)
		rec.public()
		if c, err := ParseCondition(rec.TriggerCondition); err == nil {
			c.Eval(evalState, evalCtx)
		}
		if _, err := json.Marshal(rec); err != nil && finite(rec.Embedding) {
			t.Fatalf("a decoded record does not encode: %v", err)
		}
	})
}
