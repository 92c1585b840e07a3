package node

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/intentions"
	"github.com/aria-node/aria/openai"
)

// recordingBackend is the node as the API's backend, remembering the requests the
// engine was given and the prompt the model's chat template made of them.
type recordingBackend struct {
	*Node
	mu      sync.Mutex
	reqs    []inference.Request
	prompts []string
}

func (b *recordingBackend) Generate(ctx context.Context, req inference.Request, onToken func(inference.Token) error) (inference.Result, error) {
	prompt, err := b.Node.engine.Prompt(req)
	if err != nil {
		return inference.Result{}, err
	}
	b.mu.Lock()
	b.reqs = append(b.reqs, req)
	b.prompts = append(b.prompts, prompt)
	b.mu.Unlock()
	return b.Node.Generate(ctx, req, onToken)
}

func (b *recordingBackend) lastPrompt(t *testing.T) string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.prompts) == 0 {
		t.Fatal("the engine received no request")
	}
	return b.prompts[len(b.prompts)-1]
}

func recordingAPI(t *testing.T, n *Node) (*httptest.Server, *recordingBackend) {
	t.Helper()
	rb := &recordingBackend{Node: n}
	cfg := n.apiConfig()
	cfg.Backend = rb
	srv := httptest.NewServer(openai.NewServer(cfg).Handler())
	t.Cleanup(srv.Close)
	return srv, rb
}

func create(t *testing.T, n *Node, req intentions.CreateRequest) intentions.Intention {
	t.Helper()
	in, err := n.intents.Create(t.Context(), req)
	if err != nil {
		t.Fatalf("create intention: %v", err)
	}
	return in
}

func get(t *testing.T, n *Node, id string) intentions.Intention {
	t.Helper()
	in, err := n.intents.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestInjectedIntentionReachesTheEnginePrompt(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	srv, rb := recordingAPI(t, n)
	q4 := create(t, n, intentions.CreateRequest{Content: "Ask about the Q4 presentation results", TriggerType: intentions.TriggerSemantic, TriggerCondition: "Q4 presentation results"})
	tax := create(t, n, intentions.CreateRequest{Content: "Remind about the tax return deadline", TriggerType: intentions.TriggerSemantic, TriggerCondition: "tax return deadline"})

	if r := chat(t, srv, false, nil, "What's the weather like in Paris?"); r.status != 200 {
		t.Fatalf("chat: %d %v", r.status, r.body)
	}
	if p := rb.lastPrompt(t); strings.Contains(p, "Q4") || strings.Contains(p, "Reminders") {
		t.Fatalf("an unrelated message got a reminder injected:\n%s", p)
	}

	if r := chat(t, srv, false, nil, "How did the Q4 presentation results go over?"); r.status != 200 {
		t.Fatalf("chat: %d %v", r.status, r.body)
	}
	p := rb.lastPrompt(t)
	if !strings.Contains(p, intentions.SystemMessageHeader) || !strings.Contains(p, q4.Content) || strings.Contains(p, tax.Content) {
		t.Fatalf("the prompt the engine received does not carry exactly the related reminder:\n%s", p)
	}
	rb.mu.Lock()
	first := rb.reqs[len(rb.reqs)-1].Messages[0]
	rb.mu.Unlock()
	if first.Role != "system" {
		t.Fatalf("the reminder is not a system message at the start: %+v", first)
	}
	if got := get(t, n, q4.ID); got.Status != intentions.StatusExecuted || got.FireCount != 1 {
		t.Fatalf("delivered once-only intention: status %s fire_count %d", got.Status, got.FireCount)
	}
	if got := get(t, n, tax.ID); got.Status != intentions.StatusPending || got.FireCount != 0 {
		t.Fatalf("unrelated intention: status %s fire_count %d", got.Status, got.FireCount)
	}
	// Executed: the same message brings nothing up again.
	chat(t, srv, false, nil, "How did the Q4 presentation results go over?")
	if p := rb.lastPrompt(t); strings.Contains(p, q4.Content) {
		t.Fatal("an executed intention was injected again")
	}
}

func TestReminderJoinsTheClientsSystemMessage(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	srv, rb := recordingAPI(t, n)
	create(t, n, intentions.CreateRequest{Content: "Mention the new release", TriggerType: intentions.TriggerSessionStart, TriggerCondition: "*"})
	r := chat(t, srv, false, map[string]any{"messages": []map[string]string{
		{"role": "system", "content": "You are terse."}, {"role": "user", "content": "hi"}}}, "")
	if r.status != 200 {
		t.Fatalf("chat: %d %v", r.status, r.body)
	}
	rb.mu.Lock()
	msgs := rb.reqs[len(rb.reqs)-1].Messages
	rb.mu.Unlock()
	if len(msgs) != 2 || msgs[0].Role != "system" || !strings.HasPrefix(msgs[0].Content, "You are terse.") || !strings.Contains(msgs[0].Content, "Mention the new release") {
		t.Fatalf("messages the engine got: %+v", msgs)
	}
}

func TestConditionSeesRequestMetadataAndNodeState(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	srv, rb := recordingAPI(t, n)
	calm := create(t, n, intentions.CreateRequest{Content: "Offer a short break", TriggerType: intentions.TriggerCondition, TriggerCondition: "emotion=frustration"})
	busy := create(t, n, intentions.CreateRequest{Content: "Thank them for the first tokens", TriggerType: intentions.TriggerCondition, TriggerCondition: "energy.total_tokens > 0 && models.count >= 1"})

	chat(t, srv, false, map[string]any{"metadata": map[string]string{"emotion": "calm"}}, "first")
	if p := rb.lastPrompt(t); strings.Contains(p, calm.Content) || strings.Contains(p, busy.Content) {
		t.Fatalf("conditions fired too early:\n%s", p)
	}
	chat(t, srv, false, map[string]any{"metadata": map[string]string{"emotion": "frustration"}}, "second")
	p := rb.lastPrompt(t)
	if !strings.Contains(p, calm.Content) || !strings.Contains(p, busy.Content) {
		t.Fatalf("conditions on metadata and on node state did not fire:\n%s", p)
	}
}

func TestFailedResponseKeepsTheIntentionForNextTime(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	srv, _ := recordingAPI(t, n)
	in := create(t, n, intentions.CreateRequest{Content: "Say hello", TriggerType: intentions.TriggerSessionStart, TriggerCondition: "*"})
	// An unknown model fails before generation, so the turn never begins.
	r := chat(t, srv, false, map[string]any{"model": "no-such-model"}, "hi")
	if r.status != 404 {
		t.Fatalf("unknown model: %d", r.status)
	}
	if got := get(t, n, in.ID); got.Status != intentions.StatusPending {
		t.Fatalf("after a failed request: %s", got.Status)
	}
	// A context too long for the model fails inside generation: fired, not delivered.
	long := strings.Repeat("word ", 5000)
	if r := chat(t, srv, false, map[string]any{"user": "carol"}, long); r.status != 400 {
		t.Fatalf("over-long prompt: HTTP %d %v", r.status, r.body)
	}
	if got := get(t, n, in.ID); got.Status != intentions.StatusTriggered || got.FireCount != 1 {
		t.Fatalf("fired but not delivered: status %s fire_count %d", got.Status, got.FireCount)
	}
	if r := chat(t, srv, false, map[string]any{"user": "carol"}, "short"); r.status != 200 {
		t.Fatalf("chat: %d", r.status)
	}
	if got := get(t, n, in.ID); got.Status != intentions.StatusExecuted {
		t.Fatalf("delivered on the next request: %s", got.Status)
	}
}

func TestTimeIntentionDueWhileDownFiresAtStart(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{t: time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)}
	n := startTestNode(t, dir, func(c *Config) { c.Now = clock.Now })
	in := create(t, n, intentions.CreateRequest{Content: "Standup", TriggerType: intentions.TriggerTime, TriggerCondition: "2026-11-24T09:00:00Z"})
	stopTestNode(t, n)

	clock.Set(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)) // came due while the node was down
	n2 := startTestNode(t, dir, func(c *Config) { c.Now = clock.Now })
	deadline := time.Now().Add(10 * time.Second)
	for get(t, n2, in.ID).Status != intentions.StatusTriggered {
		if time.Now().After(deadline) {
			t.Fatalf("time intention due while down not fired after start: %+v", get(t, n2, in.ID))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
