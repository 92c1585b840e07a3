package intentions

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func (e *testEnv) prepare(cc ChatContext) Injection {
	e.t.Helper()
	inj, err := e.s.Prepare(context.Background(), cc)
	if err != nil {
		e.t.Fatalf("prepare: %v", err)
	}
	return inj
}

func (e *testEnv) deliver(inj Injection) {
	e.t.Helper()
	if err := e.s.Delivered(context.Background(), inj); err != nil {
		e.t.Fatalf("delivered: %v", err)
	}
}

func ids(inj Injection) []string {
	var out []string
	for _, it := range inj.Items {
		out = append(out, it.Intention.ID)
	}
	return out
}

func TestSemanticTrigger(t *testing.T) {
	e := newEnv(t, Options{})
	in := e.create(CreateRequest{Content: "Ask about Q4 presentation results", TriggerType: TriggerSemantic, TriggerCondition: "Q4 presentation results"})

	inj := e.prepare(ChatContext{Messages: []string{"How did the Q4 presentation results go over?", "what's the weather like in Paris"}})
	if len(inj.Items) != 0 {
		t.Fatalf("fired on an unrelated latest message: %+v", inj.Items)
	}
	if got := e.get(in.ID); got.Status != StatusPending || got.FireCount != 0 {
		t.Fatalf("after an unrelated message: %s, fire_count %d", got.Status, got.FireCount)
	}

	inj = e.prepare(ChatContext{Messages: []string{"hi", "How did the Q4 presentation results go over?"}})
	if len(inj.Items) != 1 || inj.Items[0].Intention.ID != in.ID {
		t.Fatalf("related message injected %v, want %s", ids(inj), in.ID)
	}
	it := inj.Items[0]
	if it.Relevance < 0.78 || !strings.HasPrefix(it.Reason, "semantic match 1.00") {
		t.Errorf("relevance %.3f reason %q", it.Relevance, it.Reason)
	}
	if it.Intention.Status != StatusTriggered || it.Intention.FireCount != 1 || it.Intention.Tier != TierHot {
		t.Errorf("injected intention: %s fire_count %d tier %s", it.Intention.Status, it.Intention.FireCount, it.Intention.Tier)
	}
	want := SystemMessageHeader + "\n- Ask about Q4 presentation results"
	if inj.SystemMessage != want {
		t.Errorf("system message %q, want %q", inj.SystemMessage, want)
	}
	e.deliver(inj)
	if got := e.get(in.ID); got.Status != StatusExecuted || got.Tier != TierCold {
		t.Errorf("after delivery of a once intention: %s/%s, want executed/cold", got.Status, got.Tier)
	}
	if inj := e.prepare(ChatContext{Messages: []string{"Q4 presentation results again"}}); len(inj.Items) != 0 {
		t.Errorf("executed intention injected again")
	}
}

func TestEmbedderChangeRecomputesTriggers(t *testing.T) {
	e := newEnv(t, Options{})
	in := e.create(CreateRequest{Content: "x", TriggerType: TriggerSemantic, TriggerCondition: "dentist appointment"})
	e.opts.Embedder = renamedLexical{} // the node now serves a real model
	e.reopen()
	inj := e.prepare(ChatContext{Messages: []string{"dentist appointment"}})
	if len(inj.Items) != 1 {
		t.Fatalf("after an embedder change: %d items, want 1", len(inj.Items))
	}
	var model string
	err := e.db.View(func(tx *bbolt.Tx) error {
		rec, err := getRecord(tx, in.ID)
		if err == nil {
			model = rec.EmbeddingModel
		}
		return err
	})
	if err != nil || model != "model" {
		t.Errorf("stored embedding model %q, %v; want the new embedder's", model, err)
	}
}

func TestConditionTrigger(t *testing.T) {
	e := newEnv(t, Options{})
	byCtx := e.create(CreateRequest{Content: "Be patient", TriggerType: TriggerCondition, TriggerCondition: "emotion=frustration"})
	byState := e.create(CreateRequest{Content: "Mention energy", TriggerType: TriggerCondition, TriggerCondition: "energy.total_tokens > 1000 && peers.count == 0"})

	if inj := e.prepare(ChatContext{Context: map[string]string{"emotion": "joy"}, State: map[string]float64{"energy.total_tokens": 10}}); len(inj.Items) != 0 {
		t.Fatalf("fired while false: %v", ids(inj))
	}
	inj := e.prepare(ChatContext{Context: map[string]string{"emotion": "Frustration"}, State: map[string]float64{"energy.total_tokens": 10}})
	if len(inj.Items) != 1 || inj.Items[0].Intention.ID != byCtx.ID || inj.Items[0].Reason != "condition emotion == frustration" || inj.Items[0].Relevance != 1 {
		t.Fatalf("context condition: %+v", inj.Items)
	}
	inj = e.prepare(ChatContext{State: map[string]float64{"energy.total_tokens": 1234, "peers.count": 0}})
	got := ids(inj)
	if len(got) != 2 || !strings.Contains(strings.Join(got, ","), byState.ID) {
		t.Fatalf("state condition: injected %v, want %s (and the undelivered %s)", got, byState.ID, byCtx.ID)
	}
}

func TestSessionStart(t *testing.T) {
	e := newEnv(t, Options{SessionIdle: 30 * time.Minute})
	in := e.create(CreateRequest{Content: "Greet warmly", TriggerType: TriggerSessionStart, TriggerCondition: "*", MaxFires: ptr(-1)})

	fires := func(session string) bool {
		t.Helper()
		inj := e.prepare(ChatContext{Session: session, Messages: []string{"hello"}})
		e.deliver(inj)
		return len(inj.Items) == 1 && inj.Items[0].Reason == reasonSessionStart
	}
	steps := []struct {
		advance time.Duration
		session string
		reopen  bool
		want    bool
	}{
		{0, "", false, true},                                 // "default" is new
		{time.Minute, "", false, false},                      // same session
		{29 * time.Minute, "", false, false},                 // idle 29m
		{time.Minute, "alice", false, true},                  // another session
		{time.Minute, "alice", true, false},                  // a restart does not restart an active session
		{31 * time.Minute, "alice", false, true},             // idle > 30m starts anew
		{time.Second, "alice", false, false},                 //
		{time.Second, "default", false, true},                // default was idle since the start
		{time.Second, strings.Repeat("b", 300), false, true}, // long names are hashed, still tracked
		{time.Second, strings.Repeat("b", 300), false, false},
	}
	for i, st := range steps {
		e.clock.Advance(st.advance)
		if st.reopen {
			e.reopen()
		}
		if got := fires(st.session); got != st.want {
			t.Fatalf("step %d (session %.10q after %v): fired %v, want %v", i, st.session, st.advance, got, st.want)
		}
	}
	if got := e.get(in.ID); got.FireCount != 5 || got.Status != StatusPending {
		t.Errorf("recurring session_start: fire_count %d status %s, want 5 pending", got.FireCount, got.Status)
	}

	// Tick forgets sessions idle past SessionIdle; they are new when seen again anyway.
	e.clock.Advance(time.Hour)
	e.tick()
	n := 0
	e.db.View(func(tx *bbolt.Tx) error { n = tx.Bucket(bucketSessions).Stats().KeyN; return nil })
	if n != 0 {
		t.Errorf("%d sessions kept after an hour idle, want 0", n)
	}
}

func TestSessionStartOnce(t *testing.T) {
	e := newEnv(t, Options{})
	in := e.create(CreateRequest{Content: "Introduce yourself", TriggerType: TriggerSessionStart, TriggerCondition: "*"})
	e.deliver(e.prepare(ChatContext{Session: "a"}))
	e.clock.Advance(time.Hour)
	if inj := e.prepare(ChatContext{Session: "b"}); len(inj.Items) != 0 {
		t.Errorf("a once intention fired in a second session")
	}
	if got := e.get(in.ID); got.Status != StatusExecuted || got.FireCount != 1 {
		t.Errorf("%s fire_count %d, want executed 1", got.Status, got.FireCount)
	}
}

func TestMaxFires(t *testing.T) {
	tests := []struct {
		maxFires   int
		wantFires  int
		wantStatus Status
	}{
		{1, 1, StatusExecuted},
		{3, 3, StatusExecuted},
		{-1, 6, StatusPending},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.maxFires), func(t *testing.T) {
			e := newEnv(t, Options{})
			in := e.create(CreateRequest{Content: "x", TriggerType: TriggerCondition, TriggerCondition: "busy", MaxFires: ptr(tt.maxFires)})
			fired := 0
			for range 6 {
				inj := e.prepare(ChatContext{State: map[string]float64{"busy": 1}})
				fired += len(inj.Items)
				e.deliver(inj)
			}
			got := e.get(in.ID)
			if fired != tt.wantFires || got.FireCount != tt.wantFires || got.Status != tt.wantStatus {
				t.Errorf("injected %d times, fire_count %d, status %s; want %d, %d, %s", fired, got.FireCount, got.Status, tt.wantFires, tt.wantFires, tt.wantStatus)
			}
		})
	}
}

func TestDeliveredIsIdempotent(t *testing.T) {
	e := newEnv(t, Options{})
	in := e.create(CreateRequest{Content: "x", TriggerType: TriggerCondition, TriggerCondition: "busy", MaxFires: ptr(2)})
	inj := e.prepare(ChatContext{State: map[string]float64{"busy": 1}})
	if len(inj.Items) != 1 {
		t.Fatalf("%d items", len(inj.Items))
	}
	e.deliver(inj)
	e.deliver(inj) // a retry must not use up the second fire
	if got := e.get(in.ID); got.Status != StatusPending || got.FireCount != 1 {
		t.Fatalf("after delivering twice: %s fire_count %d, want pending 1", got.Status, got.FireCount)
	}
	// A stale injection must not consume a newer firing.
	again := e.prepare(ChatContext{State: map[string]float64{"busy": 1}})
	e.deliver(inj)
	if got := e.get(in.ID); got.Status != StatusTriggered || got.FireCount != 2 {
		t.Fatalf("stale delivery changed a newer firing: %s fire_count %d", got.Status, got.FireCount)
	}
	e.deliver(again)
	if got := e.get(in.ID); got.Status != StatusExecuted {
		t.Fatalf("after the second delivery: %s, want executed", got.Status)
	}
	// Delivering an injection whose intention was cancelled meanwhile leaves it cancelled.
	c := e.create(CreateRequest{Content: "y", TriggerType: TriggerCondition, TriggerCondition: "busy"})
	inj = e.prepare(ChatContext{State: map[string]float64{"busy": 1}})
	must(e.s.Cancel(context.Background(), c.ID))
	e.deliver(inj)
	if got := e.get(c.ID); got.Status != StatusCancelled {
		t.Errorf("delivery revived a cancelled intention: %s", got.Status)
	}
	if err := e.s.Delivered(context.Background(), Injection{}); err != nil {
		t.Errorf("empty delivery: %v", err)
	}
}

func TestUndeliveredStaysForNextRequest(t *testing.T) {
	e := newEnv(t, Options{})
	in := e.create(CreateRequest{Content: "x", TriggerType: TriggerSessionStart, TriggerCondition: "*"})
	first := e.prepare(ChatContext{})
	// The response failed: no Delivered. The next request, same session, still gets it.
	second := e.prepare(ChatContext{})
	if len(first.Items) != 1 || len(second.Items) != 1 || second.Items[0].Intention.FireCount != 1 {
		t.Fatalf("first %v second %v", ids(first), ids(second))
	}
	if second.Items[0].Intention.ID != in.ID || second.Items[0].Reason != reasonSessionStart {
		t.Errorf("second: %+v", second.Items[0])
	}
}

func TestRankingAndMaxInject(t *testing.T) {
	e := newEnv(t, Options{MaxInject: 3})
	ctx := context.Background()
	// Five manual firings, priorities 0.1..0.5; the semantic one has relevance < 1.
	var made []Intention
	for i, p := range []float64{0.3, 0.5, 0.1, 0.4, 0.2} {
		in := e.create(CreateRequest{Content: fmt.Sprintf("item %d\nsecond line", i), TriggerType: TriggerCondition, TriggerCondition: "never", Priority: ptr(p)})
		must(e.s.Fire(ctx, in.ID))
		made = append(made, in)
	}
	inj := e.prepare(ChatContext{})
	want := []string{made[1].ID, made[3].ID, made[0].ID}
	if got := ids(inj); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("ranked %v, want %v (priority 0.5, 0.4, 0.3)", got, want)
	}
	top := inj.Items[0]
	wantScore := 0.4*0.5 + 0.3*1 + 0.2*0 + 0.1*1
	if math.Abs(top.Score-wantScore) > 1e-9 || top.Relevance != 1 || top.Urgency != 0 || top.Freshness != 1 || top.Reason != reasonManual {
		t.Errorf("top item: %+v, want score %.3f", top, wantScore)
	}
	wantMsg := SystemMessageHeader + "\n- item 1 second line\n- item 3 second line\n- item 0 second line"
	if inj.SystemMessage != wantMsg {
		t.Errorf("system message %q, want %q", inj.SystemMessage, wantMsg)
	}

	// Urgency: a time trigger that came due outranks higher priorities.
	due := e.create(CreateRequest{Content: "due", TriggerType: TriggerTime, TriggerCondition: t0.Format(time.RFC3339), Priority: ptr(0.3)})
	inj = e.prepare(ChatContext{})
	if inj.Items[0].Intention.ID != due.ID || inj.Items[0].Urgency != 1 || inj.Items[0].Reason != reasonTime {
		t.Errorf("due time intention: %+v", inj.Items[0])
	}
	// Delivering the top three leaves the other two for the next request.
	e.deliver(inj)
	if rest := e.prepare(ChatContext{}); len(rest.Items) != 3 {
		t.Errorf("next request got %d items, want the 3 not yet delivered", len(rest.Items))
	}

	// Freshness decays with age and expiry urgency rises within 24h.
	rec := &record{Intention: Intention{TriggerType: TriggerCondition, CreatedAt: t0, ExpiresAt: ptr(t0.Add(30 * 24 * time.Hour)), Priority: 1}}
	if s := scoreOf(rec, t0.Add(7*24*time.Hour)); math.Abs(s.Freshness-math.Exp(-1)) > 1e-9 || s.Urgency != 0 {
		t.Errorf("after 7 days: freshness %.3f urgency %.3f", s.Freshness, s.Urgency)
	}
	if s := scoreOf(rec, t0.Add(30*24*time.Hour-6*time.Hour)); math.Abs(s.Urgency-0.75) > 1e-9 {
		t.Errorf("6h before expiry: urgency %.3f, want 0.75", s.Urgency)
	}
}

func TestRankingTiesAreDeterministic(t *testing.T) {
	e := newEnv(t, Options{MaxInject: 10})
	ctx := context.Background()
	var want []string
	for range 5 {
		in := e.create(CreateRequest{Content: "same", TriggerType: TriggerCondition, TriggerCondition: "never"})
		must(e.s.Fire(ctx, in.ID))
		want = append(want, in.ID)
	}
	// Same priority, relevance and created_at second: order by id.
	slices.Sort(want)
	for range 3 {
		if got := ids(e.prepare(ChatContext{})); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
}

func TestExpiry(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	pending := e.create(CreateRequest{Content: "p", TriggerType: TriggerCondition, TriggerCondition: "never", ExpiresAt: ptr(t0.Add(time.Hour))})
	triggered := e.create(CreateRequest{Content: "t", TriggerType: TriggerCondition, TriggerCondition: "never", ExpiresAt: ptr(t0.Add(time.Hour))})
	executed := e.create(CreateRequest{Content: "e", TriggerType: TriggerCondition, TriggerCondition: "never", ExpiresAt: ptr(t0.Add(time.Hour))})
	must(e.s.Fire(ctx, triggered.ID))
	must(e.s.Update(ctx, executed.ID, Patch{Status: ptr(StatusExecuted)}))
	semantic := e.create(CreateRequest{Content: "s", TriggerType: TriggerSemantic, TriggerCondition: "dentist", ExpiresAt: ptr(t0.Add(time.Hour))})

	e.clock.Advance(time.Hour)
	// No tick yet: Prepare must not inject or fire what has expired.
	if inj := e.prepare(ChatContext{Messages: []string{"dentist"}}); len(inj.Items) != 0 {
		t.Fatalf("injected expired intentions %v", ids(inj))
	}
	e.tick()
	for _, tt := range []struct {
		id   string
		want Status
	}{{pending.ID, StatusExpired}, {triggered.ID, StatusExpired}, {executed.ID, StatusExecuted}, {semantic.ID, StatusExpired}} {
		if got := e.get(tt.id); got.Status != tt.want || got.Tier != TierCold {
			t.Errorf("%s: %s/%s, want %s/cold", tt.id, got.Status, got.Tier, tt.want)
		}
	}
	if _, err := e.s.Fire(ctx, pending.ID); err == nil {
		t.Error("fired an expired intention")
	}
}

func TestTiersOverTime(t *testing.T) {
	e := newEnv(t, Options{})
	in := e.create(CreateRequest{Content: "x", TriggerType: TriggerSessionStart, TriggerCondition: "*"})
	other := e.create(CreateRequest{Content: "y", TriggerType: TriggerCondition, TriggerCondition: "never"})
	must(e.s.Fire(context.Background(), other.ID)) // triggered, never delivered
	stored := func(id string) Tier {
		var tier Tier
		e.db.View(func(tx *bbolt.Tx) error {
			rec, err := getRecord(tx, id)
			if err == nil {
				tier = rec.Tier
			}
			return err
		})
		return tier
	}
	steps := []struct {
		advance time.Duration
		want    Tier
	}{
		{0, TierHot},
		{24 * time.Hour, TierHot},
		{time.Second, TierWarm},
		{6*24*time.Hour - time.Second, TierWarm}, // exactly 7 days
		{time.Second, TierCold},
	}
	for i, st := range steps {
		e.clock.Advance(st.advance)
		e.tick()
		if got := stored(in.ID); got != st.want {
			t.Fatalf("step %d: stored tier %s, want %s", i, got, st.want)
		}
		if got := e.get(in.ID).Tier; got != st.want {
			t.Fatalf("step %d: read tier %s, want %s", i, got, st.want)
		}
	}
	// A cold triggered intention is not injected; a cold pending one that fires is hot again.
	inj := e.prepare(ChatContext{Session: "new"})
	if got := ids(inj); len(got) != 1 || got[0] != in.ID || inj.Items[0].Intention.Tier != TierHot {
		t.Fatalf("injected %v, want only the refired %s, hot", got, in.ID)
	}
	if got := e.get(other.ID); got.Tier != TierCold || got.Status != StatusTriggered {
		t.Errorf("untouched triggered intention: %s/%s", got.Status, got.Tier)
	}
}

func TestTimeTriggerFiresAfterDowntime(t *testing.T) {
	e := newEnv(t, Options{})
	in := e.create(timeReq("Ask about Q4 presentation results", t0.Add(10*time.Hour)))
	e.tick()
	if got := e.get(in.ID); got.Status != StatusPending {
		t.Fatalf("fired early: %s", got.Status)
	}
	// The node is down while the time comes.
	e.db.Close()
	e.db = nil
	e.clock.Advance(3 * 24 * time.Hour)
	e.open()
	e.tick()
	got := e.get(in.ID)
	if got.Status != StatusTriggered || got.FireCount != 1 || got.LastFiredAt == nil || !got.LastFiredAt.Equal(e.clock.Now()) {
		t.Fatalf("first tick after restart: %s fire_count %d last_fired_at %v", got.Status, got.FireCount, got.LastFiredAt)
	}
	inj := e.prepare(ChatContext{})
	if len(inj.Items) != 1 || inj.Items[0].Reason != reasonTime {
		t.Fatalf("time-triggered intention not injected: %+v", inj.Items)
	}
}

func TestRecurringTimeTriggerFiresOncePerTime(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	in := e.create(CreateRequest{Content: "x", TriggerType: TriggerTime, TriggerCondition: t0.Add(time.Hour).Format(time.RFC3339), MaxFires: ptr(-1)})
	must(e.s.Fire(ctx, in.ID)) // by hand, before its time
	e.deliver(e.prepare(ChatContext{}))
	e.clock.Advance(time.Hour)
	e.tick()
	if got := e.get(in.ID); got.Status != StatusTriggered || got.FireCount != 2 {
		t.Fatalf("at its time: %s fire_count %d, want triggered 2", got.Status, got.FireCount)
	}
	e.deliver(e.prepare(ChatContext{}))
	e.clock.Advance(time.Minute)
	e.tick()
	if got := e.get(in.ID); got.Status != StatusPending || got.FireCount != 2 {
		t.Fatalf("refired for the same time: %s fire_count %d", got.Status, got.FireCount)
	}
	must(e.s.Update(ctx, in.ID, Patch{TriggerCondition: ptr(t0.Add(3 * time.Hour).Format(time.RFC3339))}))
	e.clock.Advance(2 * time.Hour)
	e.tick()
	if got := e.get(in.ID); got.Status != StatusTriggered || got.FireCount != 3 {
		t.Fatalf("at the new time: %s fire_count %d, want triggered 3", got.Status, got.FireCount)
	}
}

func TestRunTicksAtStartAndStops(t *testing.T) {
	e := newEnv(t, Options{TickInterval: time.Hour}) // only the start tick can fire it
	in := e.create(timeReq("x", t0.Add(-time.Minute)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.s.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for e.get(in.ID).Status != StatusTriggered {
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("Run did not tick at start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestTickWritesOnlyWhenSomethingChanges(t *testing.T) {
	e := newEnv(t, Options{})
	e.create(timeReq("x", t0.Add(time.Hour)))
	writes := func() int64 { st := e.db.Stats(); return st.TxStats.GetWrite() }
	before := writes()
	for range 5 {
		e.tick()
	}
	if after := writes(); after != before {
		t.Errorf("idle ticks wrote %d pages", after-before)
	}
	e.clock.Advance(time.Hour)
	e.tick()
	if after := writes(); after == before {
		t.Error("a firing tick wrote nothing")
	}
}

// An intention that has used its fires cannot be brought back to fire again.
func TestNoFiresLeftNoReactivation(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	in := e.create(CreateRequest{Content: "x", TriggerType: TriggerSessionStart, TriggerCondition: "*", MaxFires: ptr(1)})
	if _, err := e.s.Fire(ctx, in.ID); err != nil {
		t.Fatal(err)
	}
	pending := StatusPending
	if _, err := e.s.Update(ctx, in.ID, Patch{Status: &pending}); !errors.Is(err, ErrInvalidTransition) || !strings.Contains(err.Error(), "max_fires") {
		t.Fatalf("dismissing an intention with no fires left back to pending: %v", err)
	}
	if _, err := e.s.Cancel(ctx, in.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Update(ctx, in.ID, Patch{Status: &pending}); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("reactivating a cancelled intention with no fires left: %v", err)
	}
	if got := e.get(in.ID); got.FireCount != 1 || got.Status != StatusCancelled {
		t.Fatalf("after refusals: %+v", got)
	}
	rec := e.create(CreateRequest{Content: "y", TriggerType: TriggerSessionStart, TriggerCondition: "*", MaxFires: ptr(2)})
	e.s.Fire(ctx, rec.ID)
	if got, err := e.s.Update(ctx, rec.ID, Patch{Status: &pending}); err != nil || got.Status != StatusPending {
		t.Fatalf("dismissing with a fire left: %v %v", got.Status, err)
	}
}

// Defect 6: every chat used to write (and fsync) bbolt before generating, serialising
// all chats behind bbolt's single writer. A chat that fires nothing and continues a
// fresh session writes nothing.
func TestPrepareWritesOnlyWhenSomethingFires(t *testing.T) {
	e := newEnv(t, Options{SessionIdle: 30 * time.Minute})
	e.create(timeReq("later", t0.Add(24*time.Hour)))
	e.create(CreateRequest{Content: "Talk about the garden", TriggerType: TriggerSemantic, TriggerCondition: "tomato plants in the garden"})
	e.create(CreateRequest{Content: "Say hi", TriggerType: TriggerCondition, TriggerCondition: "energy.total_tokens > 1000000"})
	writes := func() int64 { st := e.db.Stats(); return st.TxStats.GetWrite() }
	chat := func(msg string) Injection {
		return e.prepare(ChatContext{Session: "s", Messages: []string{msg}, State: map[string]float64{"energy.total_tokens": 5}})
	}
	chat("hello") // the session starts: written
	before := writes()
	for i := range 20 {
		e.clock.Advance(5 * time.Second)
		if inj := chat(fmt.Sprintf("question %d about databases", i)); len(inj.Items) != 0 {
			t.Fatalf("chat %d brought up %v", i, ids(inj))
		}
	}
	if after := writes(); after != before {
		t.Fatalf("20 chats that fired nothing wrote %d pages, want 0", after-before)
	}
	// The session's last-seen is refreshed once it is stale, and a firing is stored.
	e.clock.Advance(4 * time.Minute)
	chat("still here")
	if writes() == before {
		t.Fatal("a stale session was not refreshed")
	}
	before = writes()
	if inj := chat("my tomato plants in the garden are wilting"); len(inj.Items) != 1 {
		t.Fatalf("semantic intention did not fire: %v", ids(inj))
	}
	if writes() == before {
		t.Fatal("a firing was not stored")
	}
}

// Defect 8: a recurring session_start that fired for one session and was not yet
// delivered did not fire for the next session, and was then delivered into that other
// session's chat.
func TestFiringsBelongToTheirSession(t *testing.T) {
	e := newEnv(t, Options{SessionIdle: 30 * time.Minute})
	in := e.create(CreateRequest{Content: "Greet warmly", TriggerType: TriggerSessionStart, TriggerCondition: "*", MaxFires: ptr(-1)})
	sem := e.create(CreateRequest{Content: "Mention the garden", TriggerType: TriggerSemantic, TriggerCondition: "tomato plants in the garden"})

	// Alice's session starts; her response fails, so nothing is delivered.
	if inj := e.prepare(ChatContext{Session: "alice", Messages: []string{"my tomato plants in the garden"}}); len(inj.Items) != 2 {
		t.Fatalf("alice: %v, want both intentions", ids(inj))
	}
	// Bob's session starts: the greeting fires for him (a second firing), and Alice's
	// semantic match is not his.
	e.clock.Advance(time.Minute)
	inj := e.prepare(ChatContext{Session: "bob", Messages: []string{"hello"}})
	if got := ids(inj); len(got) != 1 || got[0] != in.ID || inj.Items[0].Reason != reasonSessionStart {
		t.Fatalf("bob got %v, want only the greeting fired for his session", got)
	}
	if got := e.get(in.ID); got.FireCount != 2 {
		t.Fatalf("fire_count %d, want 2 (one per session start)", got.FireCount)
	}
	e.deliver(inj)
	// Alice's next request is not a new session: she gets her semantic match, not
	// Bob's greeting.
	e.clock.Advance(time.Minute)
	inj = e.prepare(ChatContext{Session: "alice", Messages: []string{"and the weather?"}})
	if got := ids(inj); len(got) != 1 || got[0] != sem.ID {
		t.Fatalf("alice got %v, want only her semantic match", got)
	}
}
