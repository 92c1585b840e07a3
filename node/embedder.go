package node

import (
	"context"
	"fmt"
	"math"

	"github.com/aria-node/aria/embedding"
	"github.com/aria-node/aria/inference/local"
	"github.com/aria-node/aria/rag"
)

// ModelEmbedder embeds text with a loaded model (mean-pooled hidden states), in
// batches. Texts longer than the model's embedding window (its slot context, at most
// 2048 tokens) are cut to that many bytes first, which always fits: a token of the
// byte-level vocabulary covers at least one byte.
func ModelEmbedder(engine *local.Engine, model string) embedding.BatchEmbedder {
	window := 2048
	for _, m := range engine.Models() {
		if m.ID == model && m.SlotContext > 0 {
			window = min(window, m.SlotContext)
		}
	}
	return modelEmbedder{engine: engine, model: model, maxBytes: max(window-8, 16)}
}

type modelEmbedder struct {
	engine   *local.Engine
	model    string
	maxBytes int
}

func (m modelEmbedder) Name() string { return "model:" + m.model }

func (m modelEmbedder) Embed(ctx context.Context, text string) ([]float32, error) {
	v, err := m.EmbedBatch(ctx, []string{text})
	if err != nil {
		return nil, err
	}
	return v[0], nil
}

func (m modelEmbedder) EmbedBatch(ctx context.Context, texts []string) ([][]float32, error) {
	in := make([]string, len(texts))
	for i, t := range texts {
		if len(t) > m.maxBytes {
			t = t[:m.maxBytes]
		}
		if t == "" {
			t = " "
		}
		in[i] = t
	}
	v, err := m.engine.Embed(ctx, m.model, in)
	if err != nil {
		return nil, err
	}
	if len(v) != len(texts) {
		return nil, fmt.Errorf("embed: %d vectors for %d texts", len(v), len(texts))
	}
	return v, nil
}

// realModel is the first loaded model with real weights ("" when there is none).
func (n *Node) realModel() string {
	if n.engine == nil {
		return ""
	}
	for _, m := range n.engine.Models() {
		if !m.Synthetic {
			return m.ID
		}
	}
	return ""
}

// chooseEmbedder picks the node's embedder, shared by intentions and RAG: the first
// real model's embeddings, else (synthetic weights embed nothing meaningful) the
// lexical one.
func (n *Node) chooseEmbedder() embedding.Embedder {
	if m := n.realModel(); m != "" {
		return ModelEmbedder(n.engine, m)
	}
	return embedding.NewLexical()
}

// nodeEmbedder is chooseEmbedder asked at each call: the platform starts before the
// models load, and a model loaded later changes the vector space (the rag service
// re-embeds the collections it meets).
type nodeEmbedder struct{ n *Node }

func (e nodeEmbedder) Name() string { return e.n.chooseEmbedder().Name() }

func (e nodeEmbedder) Embed(ctx context.Context, text string) ([]float32, error) {
	return e.n.chooseEmbedder().Embed(ctx, text)
}

func (e nodeEmbedder) EmbedBatch(ctx context.Context, texts []string) ([][]float32, error) {
	return embedding.EmbedAll(ctx, e.n.chooseEmbedder(), texts)
}

// modelReranker re-scores passages by the cosine of the real model's embeddings of
// the query and of each whole passage; without a real model rerank is unsupported.
type modelReranker struct{ n *Node }

func (r modelReranker) Name() string {
	if m := r.n.realModel(); m != "" {
		return "model:" + m
	}
	return rag.RerankUnsupported
}

func (r modelReranker) Rerank(ctx context.Context, query string, passages []string) ([]float64, error) {
	m := r.n.realModel()
	if m == "" {
		return nil, rag.ErrRerankUnsupported
	}
	vs, err := ModelEmbedder(r.n.engine, m).EmbedBatch(ctx, append([]string{query}, passages...))
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(passages))
	for i := range passages {
		out[i] = cosine(vs[0], vs[i+1])
	}
	return out, nil
}

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range min(len(a), len(b)) {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}
