package node

import (
	"context"
	"fmt"

	"github.com/aria-node/aria/inference/local"
	"github.com/aria-node/aria/intentions"
)

// modelEmbedder embeds text with a loaded model (mean-pooled hidden states).
type modelEmbedder struct {
	engine *local.Engine
	model  string
}

func (m modelEmbedder) Name() string { return "model:" + m.model }

func (m modelEmbedder) Embed(ctx context.Context, text string) ([]float32, error) {
	v, err := m.engine.Embed(ctx, m.model, []string{text})
	if err != nil {
		return nil, err
	}
	if len(v) != 1 {
		return nil, fmt.Errorf("embed: %d vectors for 1 text", len(v))
	}
	return v[0], nil
}

// chooseEmbedder picks the semantic trigger embedder: the first real model's
// embeddings, else (synthetic weights embed nothing meaningful) the lexical one.
func (n *Node) chooseEmbedder() intentions.Embedder {
	for _, m := range n.engine.Models() {
		if !m.Synthetic {
			return modelEmbedder{engine: n.engine, model: m.ID}
		}
	}
	return intentions.NewLexicalEmbedder()
}
