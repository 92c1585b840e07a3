package local

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/inference/synth"
)

func tinyModel(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := synth.WriteFile(context.Background(), p, synth.Options{Seed: 1, Shape: synth.Shapes["tiny"], Type: synth.TQ2_0}); err != nil {
		t.Fatal(err)
	}
	return p
}

func loaded(t *testing.T, o Options) (*Engine, string) {
	t.Helper()
	e := New(o)
	t.Cleanup(func() { e.Close() })
	info, err := e.Load(context.Background(), tinyModel(t), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return e, info.ID
}

func greedyReq(model string, n int, remote bool) inference.Request {
	s := inference.DefaultSampling()
	s.Temperature, s.RandomSeed = 0, false
	return inference.Request{Model: model, Prompt: "once upon a time", MaxTokens: n, Sampling: s, Remote: remote}
}

// Defect 1: the consent contract's share applies to work for others only. A step
// with any owner request in its batch runs with every thread and no rest.
func TestThreadsFollowWhoIsInTheBatch(t *testing.T) {
	type step struct {
		threads       int
		duty          float64
		owner, remote int
	}
	var mu sync.Mutex
	var steps []step
	o := Options{Threads: 2, Slots: 2, Remote: Share{Threads: 1, Duty: 0.5}, FixedThreads: true}
	o.stepHook = func(threads int, duty float64, owner, remote int) {
		mu.Lock()
		steps = append(steps, step{threads, duty, owner, remote})
		mu.Unlock()
	}
	e, id := loaded(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// A remote request runs; after its first token the owner's joins the batch.
	started := make(chan struct{})
	var once sync.Once
	remoteDone := make(chan error, 1)
	go func() {
		_, err := e.Generate(ctx, greedyReq(id, 300, true), func(inference.Token) error {
			once.Do(func() { close(started) })
			return nil
		})
		remoteDone <- err
	}()
	<-started
	if _, err := e.Generate(ctx, greedyReq(id, 20, false), nil); err != nil {
		t.Fatal(err)
	}
	if err := <-remoteDone; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var remoteOnly, mixed int
	for i, s := range steps {
		switch {
		case s.owner > 0 && (s.threads != 2 || s.duty != 1):
			t.Fatalf("step %d with %d owner request(s) ran with %d threads at duty %v, want 2 at 1", i, s.owner, s.threads, s.duty)
		case s.owner == 0 && (s.threads != 1 || s.duty != 0.5):
			t.Fatalf("remote-only step %d ran with %d threads at duty %v, want 1 at 0.5", i, s.threads, s.duty)
		}
		if s.owner > 0 && s.remote > 0 {
			mixed++
		}
		if s.owner == 0 {
			remoteOnly++
		}
	}
	if mixed == 0 || remoteOnly == 0 {
		t.Fatalf("want both mixed and remote-only steps, got %d mixed, %d remote-only of %d", mixed, remoteOnly, len(steps))
	}
	t.Logf("%d steps: %d remote-only, %d mixed", len(steps), remoteOnly, mixed)
}

// Defect 5: a close that lands between submit's check and its enqueue used to leave
// the task in a queue nobody reads, and Generate waited forever.
func TestSubmitRacingCloseNeverStrandsARequest(t *testing.T) {
	e, id := loaded(t, Options{Threads: 1, Slots: 1})
	var once sync.Once
	testHookSubmit = func() {
		once.Do(func() {
			go e.Close()
			time.Sleep(300 * time.Millisecond) // let close run as far as it can
		})
	}
	defer func() { testHookSubmit = nil }()
	done := make(chan error, 1)
	go func() {
		_, err := e.Generate(context.Background(), greedyReq(id, 8, false), nil)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, inference.ErrClosed) {
			t.Fatalf("Generate: %v, want success or ErrClosed", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Generate never returned: the request was stranded in the queue of a closed runner")
	}
}

// Defect 5: Close must not free the C model while a caller is using it.
func TestModelIsNotFreedWhileInUse(t *testing.T) {
	e, id := loaded(t, Options{Threads: 1, Slots: 1})
	closed := make(chan struct{})
	var once sync.Once
	var closedEarly bool
	testHookModelInUse = func() {
		once.Do(func() {
			go func() { e.Close(); close(closed) }()
			time.Sleep(300 * time.Millisecond)
			select {
			case <-closed:
				closedEarly = true
			default:
			}
		})
	}
	defer func() { testHookModelInUse = nil }()
	toks, err := e.Tokenize(context.Background(), id, "hello world, hello model")
	if closedEarly {
		t.Fatal("Close freed the model while Tokenize held it")
	}
	if err != nil || len(toks) == 0 {
		t.Fatalf("Tokenize = %v, %v", toks, err)
	}
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close never returned after the last user let go")
	}
	if _, err := e.Tokenize(context.Background(), id, "x"); !errors.Is(err, inference.ErrClosed) {
		t.Fatalf("after close: %v, want ErrClosed", err)
	}
}

// Defect 9: two concurrent loads of one model both loaded it (one runner leaked), and
// concurrent loads of different models could overshoot the memory budget.
func TestConcurrentLoadsOfOneModel(t *testing.T) {
	path := tinyModel(t)
	for _, c := range []struct {
		name   string
		budget func(one uint64) uint64
		ids    [2]string
	}{
		{"same id", func(uint64) uint64 { return 0 }, [2]string{"m", "m"}},
		{"budget for one", func(one uint64) uint64 { return one + one/2 }, [2]string{"a", "b"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			probe := New(Options{Threads: 1, Slots: 1})
			info, err := probe.Load(context.Background(), path, LoadOptions{})
			probe.Close()
			if err != nil {
				t.Fatal(err)
			}
			e := New(Options{Threads: 1, Slots: 1, MemoryBudget: c.budget(info.MemoryBytes)})
			defer e.Close()
			gate := make(chan struct{})
			var arrived sync.WaitGroup
			arrived.Add(1)
			var once sync.Once
			testHookLoading = func() { once.Do(arrived.Done); <-gate }
			defer func() { testHookLoading = nil }()
			errs := make(chan error, 2)
			for _, id := range c.ids {
				go func() { _, err := e.Load(context.Background(), path, LoadOptions{ID: id}); errs <- err }()
			}
			arrived.Wait()
			// The second load either failed at once or is parked in the hook too.
			var failed int
			select {
			case err := <-errs:
				if err == nil {
					t.Fatal("a load finished while the first was still loading")
				}
				failed++
			case <-time.After(2 * time.Second):
			}
			close(gate)
			for range 2 - failed {
				if err := <-errs; err != nil {
					failed++
				}
			}
			if failed != 1 || len(e.Models()) != 1 {
				t.Fatalf("%d loads failed and %d models are loaded, want exactly one of each", failed, len(e.Models()))
			}
		})
	}
}

// When the kernel's threads take every CPU, a consumer's work during a decode stalls
// llama.cpp's spinning threads: the runner hands each token off before decoding on.
func TestRunnerHandsTokensOffBeforeDecodingOn(t *testing.T) {
	var got atomic.Int64
	var mu sync.Mutex
	var seen []int64 // tokens the consumer had handed on when each step began
	o := Options{Threads: 1, Slots: 1, FixedThreads: true, cpus: 1, handOffWait: time.Minute}
	o.stepHook = func(int, float64, int, int) {
		mu.Lock()
		seen = append(seen, got.Load())
		mu.Unlock()
	}
	e, id := loaded(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := e.Generate(ctx, greedyReq(id, 24, false), func(inference.Token) error {
		time.Sleep(300 * time.Microsecond) // a consumer slower than a tiny model's decode
		got.Add(1)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if res.CompletionTokens < 2 || len(seen) < res.CompletionTokens {
		t.Fatalf("%d tokens in %d steps", res.CompletionTokens, len(seen))
	}
	// Step i (the prompt is one step) follows i sampled tokens.
	for i, n := range seen {
		if n != int64(i) {
			t.Fatalf("step %d began with %d tokens handed on, want %d (all steps: %v)", i, n, i, seen)
		}
	}
}

// A consumer that does not keep up (a slow peer link) is waited for lateTakeLimit
// times, then never again; with a CPU to spare nobody is waited for.
func TestRunnerStopsWaitingForALateConsumer(t *testing.T) {
	for _, tc := range []struct {
		cpus int
		want int64
	}{{1, lateTakeLimit}, {4, 0}} {
		o := Options{Threads: 1, Slots: 1, FixedThreads: true, cpus: tc.cpus, handOffWait: time.Millisecond}
		e, id := loaded(t, o)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		res, err := e.Generate(ctx, greedyReq(id, 10, false), func(inference.Token) error {
			time.Sleep(20 * time.Millisecond)
			return nil
		})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		r, err := e.runner(id)
		if err != nil {
			t.Fatal(err)
		}
		late := r.lateHandOffs.Load()
		r.users.Done()
		if res.CompletionTokens < lateTakeLimit+2 || late != tc.want {
			t.Fatalf("cpus %d: %d tokens, %d late hand-offs, want %d", tc.cpus, res.CompletionTokens, late, tc.want)
		}
	}
}
