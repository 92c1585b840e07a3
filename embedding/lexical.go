package embedding

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"unicode"
)

// Lexical embedder parameters. Each term sets two hashed dimensions so that one hash
// collision gives half a match, not a whole one.
const (
	LexicalDims   = 1024
	LexicalProbes = 2
)

// NewLexical returns the embedder used when the model's own embeddings mean
// nothing (a synthetic model): a bag of stemmed content words hashed into 1024
// dimensions (see the package doc).
func NewLexical() Embedder { return lexical{} }

type lexical struct{}

func (lexical) Name() string { return fmt.Sprintf("lexical-fnv%d-v1", LexicalDims) }

func (lexical) Embed(ctx context.Context, text string) ([]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return LexicalVector(Terms(text)), nil
}

// TermWeight is the sublinear term frequency 1+ln(tf), and 0 for an absent term.
func TermWeight(tf int) float64 {
	if tf <= 0 {
		return 0
	}
	return 1 + math.Log(float64(tf))
}

func TermDims(term string) [LexicalProbes]int {
	h := fnv.New64a()
	h.Write([]byte(term))
	x := h.Sum64()
	return [LexicalProbes]int{int(x % LexicalDims), int((x >> 32) % LexicalDims)}
}

// LexicalVector is the unit vector of a bag of terms (all zeros when there are none).
func LexicalVector(terms []string) []float32 {
	counts := map[string]int{}
	for _, t := range terms {
		counts[t]++
	}
	v := make([]float64, LexicalDims)
	for t, tf := range counts {
		w := TermWeight(tf) / math.Sqrt(LexicalProbes)
		for _, d := range TermDims(t) {
			v[d] += w
		}
	}
	var norm float64
	for _, x := range v {
		norm += x * x
	}
	out := make([]float32, LexicalDims)
	if norm == 0 {
		return out
	}
	norm = math.Sqrt(norm)
	for i, x := range v {
		out[i] = float32(x / norm)
	}
	return out
}

// Terms lowercases text, splits it on anything but letters and digits, drops
// stopwords and single letters, and stems what is left.
func Terms(text string) []string {
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	terms := words[:0]
	for _, w := range words {
		if stopwords[w] {
			continue
		}
		if len([]rune(w)) == 1 && !unicode.IsDigit([]rune(w)[0]) {
			continue
		}
		terms = append(terms, Stem(w))
	}
	return terms
}

// Stem strips a plural and then one of -ing, -ed, -ly, keeping at least three letters,
// and undoes a doubled final consonant (planned → plan). It is deliberately light:
// it only has to make a trigger and a message agree on the same word.
func Stem(w string) string {
	r := []rune(w)
	n := len(r)
	has := func(suffix string) bool { return strings.HasSuffix(string(r), suffix) }
	switch {
	case n > 4 && has("ies"):
		r = append(r[:n-3], 'y')
	case n > 4 && has("sses"):
		r = r[:n-2]
	case n > 3 && has("s") && !has("ss") && !has("us") && !has("is"):
		r = r[:n-1]
	}
	n = len(r)
	stripped := false
	switch {
	case n > 5 && has("ing"):
		r, stripped = r[:n-3], true
	case n > 4 && has("ed"):
		r, stripped = r[:n-2], true
	case n > 4 && has("ly"):
		r = r[:n-2]
	}
	if n = len(r); stripped && n >= 3 && r[n-1] == r[n-2] && !strings.ContainsRune("aeiouylsz", r[n-1]) {
		r = r[:n-1]
	}
	return string(r)
}

var stopwords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a about above after again against all also am an and any are aren as at
		be because been before being below between both but by can could couldn did didn do does doesn doing don
		down during each few for from further had hadn has hasn have haven having he her here hers herself him
		himself his how i if in into is isn it its itself just let like ll me might more most must mustn my myself
		no nor not now of off on once only or other ought our ours ourselves out over own re same shall shan she
		should shouldn so some such than that the their theirs them themselves then there these they this those
		through to too under until up upon us ve very was wasn we were weren what when where which while who whom
		why will with won would wouldn you your yours yourself yourselves get got please thanks thank hey hi hello
		ok okay yes yeah`) {
		m[w] = true
	}
	return m
}()
