package local

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/inference/llamacpp"
	"github.com/aria-node/aria/inference/synth"
	"github.com/aria-node/aria/models"
)

// The chat pieces of a BitNet prompt tokenize exactly as the whole rendered prompt does
// (as the model saw them in training): " the" after "User:" is one token, not " " + "the".
func TestBitNetChatTokenizesAsOneString(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "i2s.gguf"), filepath.Join(dir, "b158.gguf")
	if err := synth.WriteFile(context.Background(), src, synth.Options{Shape: synth.Shapes["tiny"], Type: synth.I2_S, Seed: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := models.Import(context.Background(), src, dst, nil); err != nil {
		t.Fatal(err)
	}
	m, err := llamacpp.LoadModel(dst, llamacpp.ModelParams{VocabOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	msgs := []inference.Message{{Role: "system", Content: "the rules"}, {Role: "user", Content: "the end of the day"}}
	got, err := tokenizeChat(context.Background(), m, BitNetChatTemplate, msgs)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Tokenize(renderBitNetChat(msgs), true, true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pieces %v\nwhole  %v", got, want)
	}
}
