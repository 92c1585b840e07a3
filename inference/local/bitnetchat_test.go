package local_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/inference/local"
	"github.com/aria-node/aria/inference/synth"
	"github.com/aria-node/aria/models"
)

// An imported BitNet b1.58 model is prompted in the 2B-4T chat format whatever its
// file says (Microsoft's file has no usable template), while other models keep theirs.
func TestBitNetChatFormat(t *testing.T) {
	src := fixture(t, "tiny-i2s", synth.Options{Type: synth.I2_S, Seed: 3})
	imported := filepath.Join(t.TempDir(), "tiny-b158.gguf")
	if _, err := models.Import(context.Background(), src, imported, nil); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, local.Options{}, imported, tiny(t))
	msgs := []inference.Message{
		{Role: "system", Content: "Be brief."},
		{Role: "user", Content: "Hi"},
		{Role: "assistant", Content: "Hello."},
		{Role: "user", Content: "Bye"},
	}
	got, err := e.Prompt(inference.Request{Model: "tiny-b158", Messages: msgs})
	if err != nil {
		t.Fatal(err)
	}
	want := "System: Be brief.<|eot_id|>User: Hi<|eot_id|>Assistant: Hello.<|eot_id|>User: Bye<|eot_id|>Assistant: "
	if got != want {
		t.Fatalf("prompt\n got %q\nwant %q", got, want)
	}
	if m := e.Models()[0]; m.ChatTemplate != local.BitNetChatTemplate {
		t.Fatalf("chat template %q", m.ChatTemplate)
	}
	other, err := e.Prompt(inference.Request{Model: "tiny-tq2_0", Messages: msgs[1:2]})
	if err != nil || other != "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n" {
		t.Fatalf("synthetic model prompt %q, %v", other, err)
	}
	res, _ := generate(t, e, inference.Request{Model: "tiny-b158", Messages: msgs, MaxTokens: 4, Sampling: greedy(1)})
	if res.PromptTokens < 10 {
		t.Fatalf("prompt tokens %d", res.PromptTokens)
	}
}
