package local

import (
	"bytes"
	"math"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/inference/grammar"
)

// vocabIndex is what constrained decoding needs to know of a model's vocabulary: each
// token's bytes, which tokens end generation, and a trie over the bytes.
type vocabIndex struct {
	pieces [][]byte
	eog    []bool
	trie   *grammar.Trie
}

func newVocabIndex(n int, piece func(int32) []byte, isEOG func(int32) bool) *vocabIndex {
	v := &vocabIndex{pieces: make([][]byte, n), eog: make([]bool, n)}
	for i := range n {
		v.eog[i] = isEOG(int32(i))
		if !v.eog[i] {
			v.pieces[i] = piece(int32(i))
		}
	}
	v.trie = grammar.NewTrie(v.pieces)
	return v
}

// constraint is one request's grammar state. The sampler draws first and consults
// the grammar only about the drawn token; only when the grammar refuses it is the
// whole vocabulary masked and the draw repeated. Drawing from p and, on refusal,
// from p restricted to the allowed set A gives each allowed token p(t) + (1−p(A))·
// p(t)/p(A) = p(t)/p(A): exactly the masked distribution, at the cost of a vocabulary
// walk only on refusals.
type constraint struct {
	m     *grammar.Matcher
	vocab *vocabIndex
	lazy  bool   // free until the output starts a tool call
	free  bool   // lazy and the output did not start a tool call: no constraint
	out   []byte // output so far, while lazy and undecided
	mask  []bool
}

func newConstraint(f *inference.Format, vocab *vocabIndex) (*constraint, error) {
	g, err := f.Grammar()
	if err != nil {
		return nil, err
	}
	return &constraint{m: g.NewMatcher(), vocab: vocab, lazy: f.Lazy()}, nil
}

// undecided reports whether a lazy constraint has not yet seen the trigger.
func (c *constraint) undecided() bool {
	return c.lazy && !c.free && !bytes.HasPrefix(c.out, []byte(inference.ToolCallOpen))
}

// active reports whether the grammar applies to the next token.
func (c *constraint) active() bool { return !c.free }

// allows reports whether tok may come next.
func (c *constraint) allows(tok int32) bool {
	if c.vocab.eog[tok] {
		return c.m.Done() || c.undecided()
	}
	p := c.vocab.pieces[tok]
	if len(p) == 0 {
		return false
	}
	if c.undecided() && !c.heading(p) {
		return true // the answer is free text: anything goes
	}
	return c.m.CanAccept(p)
}

// heading reports whether the output with p appended is still (or already) the
// trigger, i.e. the answer is a tool call.
func (c *constraint) heading(p []byte) bool {
	next := append(c.out[:len(c.out):len(c.out)], p...)
	trig := []byte(inference.ToolCallOpen)
	return bytes.HasPrefix(trig, next) || bytes.HasPrefix(next, trig)
}

// maskLogits sets the logits of refused tokens to -Inf; false when nothing is allowed.
func (c *constraint) maskLogits(logits []float32) bool {
	if len(c.mask) != len(logits) {
		c.mask = make([]bool, len(logits))
	} else {
		clear(c.mask)
	}
	n := c.m.Allowed(c.vocab.trie, c.mask)
	if c.m.Done() {
		for i, e := range c.vocab.eog {
			if e && i < len(c.mask) {
				c.mask[i] = true
				n++
			}
		}
	}
	if n == 0 {
		return false
	}
	inf := float32(math.Inf(-1))
	for i, ok := range c.mask {
		if !ok {
			logits[i] = inf
		}
	}
	return true
}

// accept records tok; final reports that the grammar is complete and allows nothing
// more, so generation ends here.
func (c *constraint) accept(tok int32) (final bool) {
	if c.free || c.vocab.eog[tok] {
		return false
	}
	p := c.vocab.pieces[tok]
	if c.undecided() {
		if !c.heading(p) {
			c.free, c.out = true, nil
			return false
		}
		c.out = append(c.out, p...)
	}
	c.m.Accept(p)
	return c.m.Final()
}
