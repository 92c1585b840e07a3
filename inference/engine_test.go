package inference_test

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

func newEngine(t testing.TB, opts inference.Options, paths ...string) *inference.LocalEngine {
	t.Helper()
	if opts.Threads == 0 {
		opts.Threads = 2
	}
	e := inference.NewLocal(opts)
	t.Cleanup(func() { e.Close() })
	for _, p := range paths {
		if _, err := e.Load(context.Background(), p, inference.LoadOptions{}); err != nil {
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
	e := newEngine(t, inference.Options{}, p)
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
	_ = errors.New
	_ = time.Second
}
