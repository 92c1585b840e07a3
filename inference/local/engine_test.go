package local_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/inference/local"
	"github.com/aria-node/aria/inference/synth"
)

var fixtureDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aria-inference-test-")
	if err != nil {
		panic(err)
	}
	fixtureDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var fixtureMu sync.Mutex

// fixture synthesizes (once per test binary) a tiny model and returns its path.
func fixture(t testing.TB, name string, o synth.Options) string {
	t.Helper()
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	path := filepath.Join(fixtureDir, name+".gguf")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if o.Shape.Name == "" {
		o.Shape = synth.Shapes["tiny"]
	}
	if o.Type == "" {
		o.Type = synth.TQ2_0
	}
	if err := synth.WriteFile(context.Background(), path, o); err != nil {
		t.Fatalf("synthesize %s: %v", name, err)
	}
	return path
}

func newEngine(t testing.TB, opts local.Options, paths ...string) *local.Engine {
	t.Helper()
	if opts.Threads == 0 {
		// One thread: ggml's worker threads spin at barriers, which crawls when another
		// test package holds the second core.
		opts.Threads = 1
	}
	e := local.New(opts)
	t.Cleanup(func() { e.Close() })
	for _, p := range paths {
		if _, err := e.Load(context.Background(), p, local.LoadOptions{}); err != nil {
			t.Fatalf("load %s: %v", p, err)
		}
	}
	return e
}

func greedy(seed uint64) inference.Sampling {
	s := inference.DefaultSampling()
	s.Temperature = 0
	s.RandomSeed = false
	s.Seed = seed
	return s
}

func TestGenerateSmoke(t *testing.T) {
	p := fixture(t, "tiny-tq2_0", synth.Options{Seed: 1})
	e := newEngine(t, local.Options{}, p)
	models := e.Models()
	if len(models) != 1 || models[0].ID != "tiny-tq2_0" || !models[0].Synthetic {
		t.Fatalf("models = %+v", models)
	}
	var streamed strings.Builder
	n := 0
	res, err := e.Generate(context.Background(), inference.Request{
		Model: "tiny-tq2_0", Prompt: "The quick brown fox", MaxTokens: 16, Sampling: greedy(1),
	}, func(tok inference.Token) error { streamed.WriteString(tok.Text); n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("result: %+v", res)
	if res.FinishReason != inference.FinishLength || res.CompletionTokens != 16 {
		t.Fatalf("finish=%q tokens=%d, want length/16", res.FinishReason, res.CompletionTokens)
	}
	if streamed.String() != res.Text || res.Text == "" {
		t.Fatalf("streamed %q != result %q", streamed.String(), res.Text)
	}
}

func tiny(t testing.TB) string { return fixture(t, "tiny-tq2_0", synth.Options{Seed: 1}) }

func generate(t *testing.T, e inference.Engine, req inference.Request) (inference.Result, string) {
	t.Helper()
	if req.Model == "" {
		req.Model = e.Models()[0].ID
	}
	var sb strings.Builder
	res, err := e.Generate(context.Background(), req, func(tok inference.Token) error { sb.WriteString(tok.Text); return nil })
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	if sb.String() != res.Text {
		t.Fatalf("streamed text %q differs from result %q", sb.String(), res.Text)
	}
	return res, sb.String()
}

func TestGreedyIsDeterministicAndSeedIndependent(t *testing.T) {
	e := newEngine(t, local.Options{}, tiny(t))
	a, _ := generate(t, e, inference.Request{Prompt: "Once upon a time", MaxTokens: 24, Sampling: greedy(1)})
	b, _ := generate(t, e, inference.Request{Prompt: "Once upon a time", MaxTokens: 24, Sampling: greedy(99)})
	if a.Text != b.Text || a.Text == "" {
		t.Fatalf("greedy runs differ: %q vs %q", a.Text, b.Text)
	}
	c, _ := generate(t, e, inference.Request{Prompt: "A completely different start", MaxTokens: 24, Sampling: greedy(1)})
	if c.Text == a.Text {
		t.Fatalf("different prompts gave the same greedy text %q", a.Text)
	}
}

func TestSeededSamplingIsReproducible(t *testing.T) {
	e := newEngine(t, local.Options{}, tiny(t))
	s := inference.DefaultSampling()
	s.RandomSeed = false
	run := func(seed uint64) string {
		s.Seed = seed
		r, _ := generate(t, e, inference.Request{Prompt: "The weather", MaxTokens: 32, Sampling: s})
		return r.Text
	}
	a, b, c := run(5), run(5), run(6)
	if a != b {
		t.Fatalf("same seed, different text:\n%q\n%q", a, b)
	}
	if a == c {
		t.Fatalf("seeds 5 and 6 gave the same 32-token text %q", a)
	}
}

func TestMaxTokensFinishesWithLength(t *testing.T) {
	e := newEngine(t, local.Options{}, tiny(t))
	for _, n := range []int{1, 7} {
		r, _ := generate(t, e, inference.Request{Prompt: "Count", MaxTokens: n, Sampling: greedy(1)})
		if r.FinishReason != inference.FinishLength || r.CompletionTokens != n {
			t.Fatalf("max_tokens %d: finish %q after %d tokens", n, r.FinishReason, r.CompletionTokens)
		}
	}
}

func TestStopStringAcrossTokens(t *testing.T) {
	e := newEngine(t, local.Options{}, tiny(t))
	full, _ := generate(t, e, inference.Request{Prompt: "Stop test", MaxTokens: 40, Sampling: greedy(1)})
	if len(full.Text) < 12 {
		t.Fatalf("greedy text too short to cut: %q", full.Text)
	}
	// A stop string taken from the middle of the text, long enough to span tokens.
	cut := len(full.Text) / 2
	stop := full.Text[cut : cut+5]
	want := full.Text[:strings.Index(full.Text, stop)]
	r, _ := generate(t, e, inference.Request{Prompt: "Stop test", MaxTokens: 40, Sampling: greedy(1), Stop: []string{"never-appears", stop}})
	if r.FinishReason != inference.FinishStop {
		t.Fatalf("finish %q, want stop (stop %q in %q)", r.FinishReason, stop, full.Text)
	}
	if r.Text != want {
		t.Fatalf("text %q, want %q (stop %q)", r.Text, want, stop)
	}
	if strings.Contains(r.Text, stop) {
		t.Fatalf("stop string %q was emitted", stop)
	}
}

func TestEndOfGenerationToken(t *testing.T) {
	p := fixture(t, "tiny-eog", synth.Options{Seed: 1, EOGOnly: true})
	e := newEngine(t, local.Options{}, p)
	r, _ := generate(t, e, inference.Request{Prompt: "anything", MaxTokens: 20, Sampling: greedy(1)})
	if r.FinishReason != inference.FinishStop || r.CompletionTokens != 0 || r.Text != "" {
		t.Fatalf("got %+v, want an immediate stop with no text", r)
	}
}

func TestCancellationFreesSlot(t *testing.T) {
	e := newEngine(t, local.Options{Slots: 1, QueueSize: 1}, tiny(t))
	ctx, cancel := context.WithCancel(context.Background())
	got := 0
	res, err := e.Generate(ctx, inference.Request{Model: "tiny-tq2_0", Prompt: "long", MaxTokens: 1000, Sampling: greedy(1)},
		func(inference.Token) error {
			got++
			if got == 3 {
				cancel()
			}
			return nil
		})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	// A cancelled generation reports what it consumed (the platform bills it).
	if res.PromptTokens == 0 || res.CompletionTokens != got {
		t.Fatalf("cancelled result %+v after %d tokens", res, got)
	}
	waitIdle(t, e)
	// An error from the callback cancels too.
	boom := errors.New("client went away")
	_, err = e.Generate(context.Background(), inference.Request{Model: "tiny-tq2_0", Prompt: "long", MaxTokens: 1000, Sampling: greedy(1)},
		func(inference.Token) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the callback's error", err)
	}
	waitIdle(t, e)
	r, _ := generate(t, e, inference.Request{Prompt: "after", MaxTokens: 3, Sampling: greedy(1)})
	if r.CompletionTokens != 3 {
		t.Fatalf("request after cancellation: %+v", r)
	}
}

// waitIdle waits (bounded) until no slot is active.
func waitIdle(t *testing.T, e inference.Engine) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.Stats().ActiveSlots != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("slot still active after cancellation: %+v", e.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

func TestParallelRequestsAllCompleteAndMatchSequential(t *testing.T) {
	e := newEngine(t, local.Options{Slots: 4, QueueSize: 16}, tiny(t))
	const n = 10
	prompts := make([]string, n)
	want := make([]string, n)
	for i := range n {
		prompts[i] = strings.Repeat("word ", i+1) + "end"
		r, _ := generate(t, e, inference.Request{Prompt: prompts[i], MaxTokens: 12 + i, Sampling: greedy(1)})
		want[i] = r.Text
	}
	var wg sync.WaitGroup
	got := make([]inference.Result, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = e.Generate(context.Background(), inference.Request{Model: "tiny-tq2_0", Prompt: prompts[i], MaxTokens: 12 + i, Sampling: greedy(1)}, nil)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if got[i].CompletionTokens != 12+i || got[i].Text != want[i] {
			t.Errorf("request %d batched: %d tokens %q; alone: %q", i, got[i].CompletionTokens, got[i].Text, want[i])
		}
	}
}

func TestQueueOverflowIsBusy(t *testing.T) {
	e := newEngine(t, local.Options{Slots: 1, QueueSize: 1}, tiny(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{})
	done := make(chan error, 2)
	go func() {
		var once sync.Once
		_, err := e.Generate(ctx, inference.Request{Model: "tiny-tq2_0", Prompt: "a", MaxTokens: 1000, Sampling: greedy(1)},
			func(inference.Token) error { once.Do(func() { close(started) }); return nil })
		done <- err
	}()
	<-started
	go func() {
		_, err := e.Generate(ctx, inference.Request{Model: "tiny-tq2_0", Prompt: "b", MaxTokens: 5, Sampling: greedy(1)}, nil)
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for e.Stats().Queued != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("second request never queued: %+v", e.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	_, err := e.Generate(ctx, inference.Request{Model: "tiny-tq2_0", Prompt: "c", MaxTokens: 5, Sampling: greedy(1)}, nil)
	if !errors.Is(err, inference.ErrBusy) {
		t.Fatalf("third request: err = %v, want ErrBusy", err)
	}
	cancel()
	for range 2 {
		<-done
	}
}

func TestChatTemplateRendering(t *testing.T) {
	e := newEngine(t, local.Options{}, tiny(t))
	got, err := e.Prompt(inference.Request{Model: "tiny-tq2_0", Messages: []inference.Message{
		{Role: "system", Content: "Be brief."},
		{Role: "user", Content: "Hi"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
	if got != want {
		t.Fatalf("rendered %q\nwant     %q", got, want)
	}
	r, _ := generate(t, e, inference.Request{Messages: []inference.Message{{Role: "user", Content: "Hi"}}, MaxTokens: 4, Sampling: greedy(1)})
	// <|im_start|> and <|im_end|> are single control tokens in the prompt; as plain
	// text each takes several tokens.
	rendered, _ := e.Prompt(inference.Request{Model: "tiny-tq2_0", Messages: []inference.Message{{Role: "user", Content: "Hi"}}})
	plain, err := e.Tokenize(context.Background(), "tiny-tq2_0", rendered)
	if err != nil {
		t.Fatal(err)
	}
	if r.PromptTokens > len(plain)-6 {
		t.Fatalf("chat prompt is %d tokens, plain text %d: control tokens were not parsed as specials", r.PromptTokens, len(plain))
	}
}

func TestTokenizerRoundTrip(t *testing.T) {
	e := newEngine(t, local.Options{}, tiny(t))
	for _, text := range []string{"hello world", "  spaces\tand\nnewlines ", "日本語 and émoji 🎉", "1234567 + 89 = ?"} {
		toks, err := e.Tokenize(context.Background(), "tiny-tq2_0", text)
		if err != nil {
			t.Fatal(err)
		}
		if len(toks) == 0 || len(toks) > len(text) {
			t.Fatalf("%q: %d tokens", text, len(toks))
		}
		back, err := e.Detokenize("tiny-tq2_0", toks)
		if err != nil {
			t.Fatal(err)
		}
		if back != text {
			t.Fatalf("round trip %q -> %v -> %q", text, toks, back)
		}
	}
}

func TestEmbeddings(t *testing.T) {
	e := newEngine(t, local.Options{}, tiny(t))
	vs, err := e.Embed(context.Background(), "tiny-tq2_0", []string{"the cat sat", "the cat sat", "quantum networks"})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 3 || len(vs[0]) != synth.Shapes["tiny"].Embd {
		t.Fatalf("got %d vectors of %d", len(vs), len(vs[0]))
	}
	var norm, same, diff float64
	for i := range vs[0] {
		norm += float64(vs[0][i] * vs[0][i])
		same += float64(vs[0][i] * vs[1][i])
		diff += float64(vs[0][i] * vs[2][i])
	}
	if norm < 0.999 || norm > 1.001 {
		t.Fatalf("embedding norm² = %v, want 1", norm)
	}
	if same < 0.9999 || diff > 0.9999 {
		t.Fatalf("cosine same=%v diff=%v", same, diff)
	}
}
