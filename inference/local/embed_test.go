package local_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/inference/local"
)

// Packing inputs into one decode gives the vectors each input gets alone, token
// arrays embed like their text, and usage counts every token.
func TestEmbedInputsBatched(t *testing.T) {
	e := newEngine(t, local.Options{}, tiny(t))
	ctx := context.Background()
	texts := []string{"the cat sat", "quantum networks", "a", "decentralized inference on ternary weights", "x y z", "hello", "world", "seven", "nine items"}
	batch, err := e.EmbedInputs(ctx, inference.EmbedRequest{Model: "tiny-tq2_0", Texts: texts})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for i, text := range texts {
		alone, err := e.EmbedInputs(ctx, inference.EmbedRequest{Model: "tiny-tq2_0", Texts: []string{text}})
		if err != nil {
			t.Fatal(err)
		}
		total += alone.PromptTokens
		var dot float64
		for j := range alone.Vectors[0] {
			dot += float64(alone.Vectors[0][j] * batch.Vectors[i][j])
		}
		if math.Abs(dot-1) > 1e-3 {
			t.Errorf("input %d: batched vs alone cosine %v", i, dot)
		}
	}
	if batch.PromptTokens != total || total < len(texts) {
		t.Fatalf("usage %d, want %d", batch.PromptTokens, total)
	}
	toks, err := e.Tokenize(ctx, "tiny-tq2_0", "the cat sat")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.EmbedInputs(ctx, inference.EmbedRequest{Model: "tiny-tq2_0", Tokens: [][]int32{toks}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.EmbedInputs(ctx, inference.EmbedRequest{Model: "tiny-tq2_0", Tokens: [][]int32{{1, 1 << 30}}})
	if !errors.Is(err, inference.ErrInvalidRequest) || !strings.Contains(err.Error(), "input[0][1]") {
		t.Fatalf("out-of-vocabulary token: %v", err)
	}
	_, err = e.EmbedInputs(ctx, inference.EmbedRequest{Model: "tiny-tq2_0", Texts: []string{"ok", ""}})
	if !errors.Is(err, inference.ErrInvalidRequest) || !strings.Contains(err.Error(), "input[1]") {
		t.Fatalf("empty input: %v", err)
	}
}
