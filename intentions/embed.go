package intentions

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/aria-node/aria/embedding"
)

// Embedder turns text into a vector for semantic triggers (the node's shared
// abstraction, also used by rag). Name identifies the vector space: when it changes,
// stored trigger embeddings are recomputed.
type Embedder = embedding.Embedder

// NewLexicalEmbedder returns the embedder used when the model's own embeddings mean
// nothing (a synthetic model); see package embedding.
func NewLexicalEmbedder() Embedder { return embedding.NewLexical() }

// The lexical embedder's parts the sliding-window matcher works with.
const (
	lexicalDims   = embedding.LexicalDims
	lexicalProbes = embedding.LexicalProbes
)

var (
	contentTerms  = embedding.Terms
	termDims      = embedding.TermDims
	termWeight    = embedding.TermWeight
	lexicalVector = embedding.LexicalVector
)

// cosine of two vectors; 0 when the lengths differ or either is zero.
func cosine(a, b []float32) float64 {
	if len(a) != len(b) || len(a) == 0 {
		return 0
	}
	var dot, na, nb float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		dot += x * y
		na += x * x
		nb += y * y
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return clamp01(dot / math.Sqrt(na*nb))
}

func clamp01(x float64) float64 {
	switch {
	case x > 1:
		return 1
	case x > 0:
		return x
	}
	return 0 // also NaN
}

// Bounds on the work one message costs.
const (
	matchMaxTerms     = 4096 // lexical: the last this many content terms
	matchMaxWindow    = 64   // lexical: the longest sliding window
	matchMaxSentences = 64   // lexical: sentences compared whole
	modelMaxSentences = 8    // other embedders: sentences embedded on their own
)

// Matcher compares trigger embeddings with one message. Build it once per message
// and ask it about every trigger.
type Matcher struct {
	parts [][]float32 // the whole message and its sentences

	lexical bool
	termIDs []int                // message content terms, as indexes into a per-message vocabulary
	dims    [][lexicalProbes]int // dimensions of each vocabulary entry
}

// NewMatcher embeds message for comparison with triggers embedded by e.
func NewMatcher(ctx context.Context, e Embedder, message string) (*Matcher, error) {
	m := &Matcher{}
	sentences := splitSentences(message)
	if embedding.IsLexical(e) {
		m.lexical = true
		terms := contentTerms(message)
		if len(terms) > matchMaxTerms {
			terms = terms[len(terms)-matchMaxTerms:]
		}
		vocab := map[string]int{}
		for _, t := range terms {
			id, ok := vocab[t]
			if !ok {
				id = len(vocab)
				vocab[t] = id
				m.dims = append(m.dims, termDims(t))
			}
			m.termIDs = append(m.termIDs, id)
		}
		m.parts = append(m.parts, lexicalVector(terms))
		if len(sentences) > matchMaxSentences {
			sentences = sentences[len(sentences)-matchMaxSentences:]
		}
		if len(sentences) > 1 {
			for _, s := range sentences {
				m.parts = append(m.parts, lexicalVector(contentTerms(s)))
			}
		}
		return m, nil
	}
	texts := []string{message}
	if len(sentences) > 1 {
		if len(sentences) > modelMaxSentences {
			sentences = sentences[len(sentences)-modelMaxSentences:]
		}
		texts = append(texts, sentences...)
	}
	for _, t := range texts {
		v, err := e.Embed(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("embed message with %s: %w", e.Name(), err)
		}
		if finite(v) {
			m.parts = append(m.parts, v)
		}
	}
	return m, nil
}

// Similarity of the trigger with the best-matching part of the message, in [0,1].
// For the lexical embedder the parts are the whole message, each sentence, and every
// run of up to n+2 consecutive content terms, n being the trigger's term count; for
// other embedders the whole message and each sentence.
func (m *Matcher) Similarity(trigger []float32) float64 {
	best := 0.0
	for _, p := range m.parts {
		best = max(best, cosine(trigger, p))
	}
	if m.lexical && len(trigger) == lexicalDims {
		best = max(best, m.bestWindow(trigger))
	}
	return best
}

// bestWindow slides windows of every size from 1 to n+2 over the message's content terms
// and returns the best cosine with trigger. Each step updates the window's dot product and
// squared norm for the one term entering and the one leaving, so a size costs O(terms).
func (m *Matcher) bestWindow(trigger []float32) float64 {
	var tnorm float64
	nonzero := 0
	for _, x := range trigger {
		tnorm += float64(x) * float64(x)
		if x != 0 {
			nonzero++
		}
	}
	if tnorm == 0 || len(m.termIDs) == 0 {
		return 0
	}
	tnorm = math.Sqrt(tnorm)
	// Each trigger term sets lexicalProbes dimensions, so this recovers its term count
	// up to collisions.
	maxSize := min((nonzero+lexicalProbes-1)/lexicalProbes+2, matchMaxWindow, len(m.termIDs))

	counts := make([]int, len(m.dims))
	v := make([]float64, lexicalDims)
	var dot, sumsq float64
	update := func(pos, delta int) {
		id := m.termIDs[pos]
		c := counts[id]
		counts[id] = c + delta
		dw := (termWeight(c+delta) - termWeight(c)) / math.Sqrt(lexicalProbes)
		for _, d := range m.dims[id] {
			old := v[d]
			v[d] += dw
			sumsq += v[d]*v[d] - old*old
			dot += float64(trigger[d]) * dw
		}
	}
	best := 0.0
	for size := 1; size <= maxSize; size++ {
		clear(counts)
		clear(v)
		dot, sumsq = 0, 0
		for i := range m.termIDs {
			update(i, +1)
			if i >= size {
				update(i-size, -1)
			}
			if i >= size-1 && sumsq > 1e-12 {
				best = max(best, clamp01(dot/(tnorm*math.Sqrt(sumsq))))
			}
		}
	}
	return best
}

// Similarity is NewMatcher and Matcher.Similarity for a single trigger.
func Similarity(ctx context.Context, e Embedder, triggerEmb []float32, message string) (float64, error) {
	m, err := NewMatcher(ctx, e, message)
	if err != nil {
		return 0, err
	}
	return m.Similarity(triggerEmb), nil
}

// splitSentences splits on . ! ? ; and line breaks, dropping blank pieces.
func splitSentences(text string) []string {
	parts := strings.FieldsFunc(text, func(r rune) bool {
		return r == '.' || r == '!' || r == '?' || r == ';' || r == '\n'
	})
	out := parts[:0]
	for _, p := range parts {
		if strings.TrimSpace(p) != "" {
			out = append(out, p)
		}
	}
	return out
}
