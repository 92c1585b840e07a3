package node

import (
	"encoding/json"
	"testing"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/inference/jsonschema"
)

// Embeddings and a schema-constrained generation for a model only a peer serves:
// the peer computes both, and the constraint travels with the request.
func TestEmbeddingsAndStructuredOutputThroughAPeer(t *testing.T) {
	b := netNode(t, nil)
	a := netNode(t, []string{NoModel}, b.host.Addrs()[0])
	waitRoute(t, a, "aria-tiny-1bit")

	texts := []string{"the cat sat", "quantum networks"}
	via, err := a.Embed(t.Context(), inference.EmbedRequest{Model: "aria-tiny-1bit", Texts: texts})
	if err != nil {
		t.Fatal(err)
	}
	direct, err := b.Embed(t.Context(), inference.EmbedRequest{Model: "aria-tiny-1bit", Texts: texts})
	if err != nil {
		t.Fatal(err)
	}
	if len(via.Vectors) != 2 || via.PromptTokens != direct.PromptTokens || via.Vectors[1][0] != direct.Vectors[1][0] {
		t.Fatalf("through the peer %d vectors, %d tokens; direct %d tokens", len(via.Vectors), via.PromptTokens, direct.PromptTokens)
	}
	if _, err := a.Embed(t.Context(), inference.EmbedRequest{Model: "aria-tiny-1bit", Tokens: [][]int32{{1 << 30}}}); err == nil {
		t.Fatal("an out-of-vocabulary token through a peer was accepted")
	}

	schema := `{"type":"object","properties":{"ok":{"type":"boolean"},"n":{"type":"integer","minimum":0,"maximum":9}},"required":["ok","n"],"additionalProperties":false}`
	s := inference.DefaultSampling()
	s.Temperature = 0
	req := inference.Request{Model: "aria-tiny-1bit", Prompt: "JSON please:", MaxTokens: 200, Sampling: s,
		Format: &inference.Format{Type: inference.FormatJSONSchema, Schema: json.RawMessage(schema)}}
	res, err := a.Generate(t.Context(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Logprobs come back through the peer with every token.
	req.Logprobs, req.TopLogprobs = true, 2
	var withLP, total int
	res2, err := a.Generate(t.Context(), req, func(tk inference.Token) error {
		total++
		if tk.Logprob != nil && len(tk.Logprob.Top) > 0 && len(tk.Bytes) > 0 {
			withLP++
		}
		return nil
	})
	if err != nil || total == 0 || withLP != total || res2.Text != res.Text {
		t.Fatalf("logprobs through the peer: %d of %d tokens, text %q vs %q, err %v", withLP, total, res2.Text, res.Text, err)
	}
	sc, _ := jsonschema.Parse([]byte(schema))
	if err := jsonschema.ValidateJSON(sc, []byte(res.Text)); err != nil || res.FinishReason != inference.FinishStop {
		t.Fatalf("through the peer: %q (%s): %v", res.Text, res.FinishReason, err)
	}
}
