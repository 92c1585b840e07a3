// Package embedding turns text into vectors for semantic matching: the Embedder
// abstraction the node's intentions and RAG share, and the lexical embedder used when
// the loaded model's own embeddings mean nothing (synthetic weights) or no model is
// loaded.
//
// The lexical embedder lowercases text, splits it on anything but letters and digits,
// drops English stopwords and single letters, stems lightly (plurals, -ing, -ed, -ly),
// and hashes each term's sublinear weight 1+ln(tf) into two of 1024 dimensions; the
// vector is L2-normalised. Cosine then measures shared content words, not meaning.
package embedding

import (
	"context"
	"fmt"
)

// Embedder turns text into a vector. Implementations must be safe for concurrent use.
// Name identifies the vector space: vectors from embedders with different names are
// not comparable, so whoever stores them records the name and re-embeds on a change.
type Embedder interface {
	Embed(ctx context.Context, text string) ([]float32, error)
	Name() string
}

// BatchEmbedder is an Embedder that embeds many texts in one call (a model embeds a
// batch far faster than one text at a time).
type BatchEmbedder interface {
	Embedder
	EmbedBatch(ctx context.Context, texts []string) ([][]float32, error)
}

// EmbedAll embeds texts with e, in one batch when e supports it.
func EmbedAll(ctx context.Context, e Embedder, texts []string) ([][]float32, error) {
	if b, ok := e.(BatchEmbedder); ok && len(texts) > 1 {
		vs, err := b.EmbedBatch(ctx, texts)
		if err != nil {
			return nil, err
		}
		if len(vs) != len(texts) {
			return nil, fmt.Errorf("embed with %s: %d vectors for %d texts", e.Name(), len(vs), len(texts))
		}
		return vs, nil
	}
	out := make([][]float32, len(texts))
	for i, t := range texts {
		v, err := e.Embed(ctx, t)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// IsLexical reports whether e is the lexical embedder (whose vectors are bags of
// hashed terms, which lets callers match sub-windows of a text cheaply).
func IsLexical(e Embedder) bool {
	_, ok := e.(lexical)
	return ok
}
