package local_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/inference/gguf"
	"github.com/aria-node/aria/inference/local"
)

func TestLoadRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(tiny(t))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Patch the type of token_embd.weight to 36 (bitnet.cpp's I2_S).
	i2s := bytes.Clone(good)
	name := []byte("token_embd.weight")
	at := bytes.Index(i2s, name) + len(name)
	nDims := binary.LittleEndian.Uint32(i2s[at:])
	binary.LittleEndian.PutUint32(i2s[at+4+8*int(nDims):], 36)

	unreadable := write("unreadable.gguf", good)
	os.Chmod(unreadable, 0)

	cases := []struct {
		name string
		path string
		want []string
	}{
		{"missing", filepath.Join(dir, "nope.gguf"), []string{"nope.gguf", "no such file"}},
		{"directory", dir, []string{dir}},
		{"not gguf", write("text.gguf", []byte("this is not a model at all, just text")), []string{"text.gguf", "GGUF"}},
		{"empty", write("empty.gguf", nil), []string{"empty.gguf"}},
		{"truncated", write("trunc.gguf", good[:len(good)/2]), []string{"trunc.gguf"}},
		{"unsupported type", write("i2s.gguf", i2s), []string{"I2_S", "TQ2_0"}},
	}
	if os.Getuid() != 0 { // root reads anything
		cases = append(cases, struct {
			name string
			path string
			want []string
		}{"unreadable", unreadable, []string{"permission denied"}})
	}
	e := newEngine(t, local.Options{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.Load(context.Background(), c.path, local.LoadOptions{})
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if len(e.Models()) != 0 {
		t.Fatalf("bad files left models behind: %+v", e.Models())
	}
}

func TestLoadRejectsModelTooBigForMemory(t *testing.T) {
	e := newEngine(t, local.Options{MemoryLimit: 64 << 20})
	_, err := e.Load(context.Background(), tiny(t), local.LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "MiB is available") {
		t.Fatalf("err = %v, want a memory error", err)
	}
}

// A file the validator accepts but llama.cpp cannot build a model from (tensors
// missing) is an error from Load, not a crash, and the engine keeps serving.
func TestKernelLoadFailureIsAnError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "partial.gguf")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := gguf.NewWriter(f)
	for _, kv := range []gguf.KV{
		{Key: "general.architecture", Value: "bitnet"},
		{Key: "bitnet.block_count", Value: uint32(1)},
		{Key: "bitnet.embedding_length", Value: uint32(256)},
	} {
		if err := w.AddKV(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.AddTensor("output_norm.weight", gguf.TypeF32, 256); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteTensorData("output_norm.weight", make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	e := newEngine(t, local.Options{}, tiny(t))
	_, err = e.Load(context.Background(), p, local.LoadOptions{})
	if !errors.Is(err, inference.ErrKernelUnavailable) {
		t.Fatalf("err = %v, want ErrKernelUnavailable", err)
	}
	r, _ := generate(t, e, inference.Request{Prompt: "still alive", MaxTokens: 2, Sampling: greedy(1)})
	if r.CompletionTokens != 2 {
		t.Fatalf("engine broken after a failed load: %+v", r)
	}
}

func TestBadRequests(t *testing.T) {
	e := newEngine(t, local.Options{}, tiny(t))
	ok := inference.Request{Model: "tiny-tq2_0", Prompt: "hi", MaxTokens: 4, Sampling: greedy(1)}
	cases := []struct {
		name   string
		mutate func(*inference.Request)
		is     error
		field  string
	}{
		{"empty prompt", func(r *inference.Request) { r.Prompt = "" }, inference.ErrInvalidRequest, "prompt"},
		{"zero max_tokens", func(r *inference.Request) { r.MaxTokens = 0 }, inference.ErrInvalidRequest, "max_tokens"},
		{"negative max_tokens", func(r *inference.Request) { r.MaxTokens = -3 }, inference.ErrInvalidRequest, "max_tokens"},
		{"negative temperature", func(r *inference.Request) { r.Sampling.Temperature = -1 }, inference.ErrInvalidRequest, "temperature"},
		{"top_p zero", func(r *inference.Request) { r.Sampling.TopP = 0 }, inference.ErrInvalidRequest, "top_p"},
		{"unknown model", func(r *inference.Request) { r.Model = "nope" }, inference.ErrModelNotFound, "nope"},
		{"empty messages", func(r *inference.Request) { r.Prompt = ""; r.Messages = []inference.Message{} }, inference.ErrInvalidRequest, "messages"},
		{"bad role", func(r *inference.Request) { r.Messages = []inference.Message{{Role: "robot", Content: "x"}} }, inference.ErrInvalidRequest, "robot"},
		{"prompt longer than context", func(r *inference.Request) { r.Prompt = strings.Repeat("zq ", 5000) }, inference.ErrContextLength, "context window"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := ok
			c.mutate(&req)
			_, err := e.Generate(context.Background(), req, nil)
			if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.field) {
				t.Fatalf("err = %v, want %v naming %q", err, c.is, c.field)
			}
		})
	}
	r, _ := generate(t, e, ok)
	if r.CompletionTokens != 4 {
		t.Fatalf("engine unusable after bad requests: %+v", r)
	}
}

// The memory budget (the owner's max_ram_mb) bounds all loaded models together.
func TestMemoryBudgetBoundsAllModels(t *testing.T) {
	probe := newEngine(t, local.Options{Threads: 1, Slots: 1})
	info, err := probe.Load(context.Background(), tiny(t), local.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.MemoryBytes == 0 {
		t.Fatal("ModelInfo.MemoryBytes not set")
	}
	e := newEngine(t, local.Options{Threads: 1, Slots: 1, MemoryBudget: info.MemoryBytes * 3 / 2})
	if _, err := e.Load(context.Background(), tiny(t), local.LoadOptions{ID: "first"}); err != nil {
		t.Fatalf("first model within the budget: %v", err)
	}
	_, err = e.Load(context.Background(), tiny(t), local.LoadOptions{ID: "second"})
	if err == nil || !strings.Contains(err.Error(), "max_ram_mb") {
		t.Fatalf("second model beyond the budget: err = %v", err)
	}
	if len(e.Models()) != 1 {
		t.Fatalf("models after refusal: %d", len(e.Models()))
	}
}
