package local

import (
	crand "crypto/rand"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/aria-node/aria/inference"
)

// sampler picks the next token from logits. One sampler belongs to one request; it is
// used only by the goroutine that drives that request's model.
//
// Order of operations follows llama.cpp's common sampler: penalties, top-k, top-p,
// min-p, temperature, random draw. With temperature 0 the pick is greedy (argmax after
// penalties), which is what makes temperature-0 output reproducible.
type sampler struct {
	p       inference.Sampling
	rng     *rand.Rand
	window  []int32 // last RepeatLastN tokens, prompt included (ring)
	next    int
	counts  map[int32]int
	cands   []candidate
	allowed []bool // nil, or tokens that may never be sampled are false
}

type candidate struct {
	id int32
	p  float32
}

// pruneLogit: with no top-k, tokens whose scaled logit is this far below the maximum
// are dropped before the softmax. Their combined probability is below vocab·e^-30
// (≈1e-8 for 128k tokens): unmeasurable, and it saves an exp per vocabulary entry.
const pruneLogit = 30

func newSampler(p inference.Sampling, prompt []int32) *sampler {
	seed := p.Seed
	if p.RandomSeed {
		var b [8]byte
		_, _ = crand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:])
	}
	s := &sampler{p: p, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	if s.penalised() && p.RepeatLastN > 0 {
		s.counts = make(map[int32]int, p.RepeatLastN)
		start := max(0, len(prompt)-p.RepeatLastN)
		for _, t := range prompt[start:] {
			s.accept(t)
		}
	}
	return s
}

func (s *sampler) penalised() bool {
	return s.p.RepeatPenalty != 1 || s.p.PresencePenalty != 0 || s.p.FrequencyPenalty != 0
}

// accept records a token in the penalty window.
func (s *sampler) accept(tok int32) {
	if s.counts == nil {
		return
	}
	n := s.p.RepeatLastN
	if len(s.window) < n {
		s.window = append(s.window, tok)
	} else {
		old := s.window[s.next]
		if s.counts[old]--; s.counts[old] <= 0 {
			delete(s.counts, old)
		}
		s.window[s.next] = tok
		s.next = (s.next + 1) % n
	}
	s.counts[tok]++
}

// sample picks a token. logits may be modified in place (penalties).
func (s *sampler) sample(logits []float32) int32 {
	s.penalize(logits)
	return s.draw(logits)
}

// penalize applies the repetition penalties to logits in place.
func (s *sampler) penalize(logits []float32) {
	for tok, c := range s.counts {
		if int(tok) >= len(logits) {
			continue
		}
		l := logits[tok]
		if s.p.RepeatPenalty != 1 {
			if l > 0 {
				l /= s.p.RepeatPenalty
			} else {
				l *= s.p.RepeatPenalty
			}
		}
		l -= float32(c)*s.p.FrequencyPenalty + s.p.PresencePenalty
		logits[tok] = l
	}
}

// draw picks a token from (penalised) logits. Entries of -Inf (masked by a grammar)
// are never picked.
func (s *sampler) draw(logits []float32) int32 {
	if s.p.Temperature <= 0 {
		return argmax(logits)
	}
	inv := 1 / s.p.Temperature
	cands := s.cands[:0]
	if k := s.p.TopK; k > 0 && k < len(logits) {
		cands = topK(cands, logits, k)
		cands = slices.DeleteFunc(cands, func(c candidate) bool { return math.IsInf(float64(c.p), -1) })
	} else {
		maxL := logits[argmax(logits)]
		cut := maxL - pruneLogit*s.p.Temperature
		for i, l := range logits {
			if l >= cut {
				cands = append(cands, candidate{int32(i), l})
			}
		}
	}
	// Softmax with temperature; p holds unnormalised weights from here on.
	maxL := cands[0].p
	for _, c := range cands[1:] {
		maxL = max(maxL, c.p)
	}
	var sum float64
	for i := range cands {
		w := float32(math.Exp(float64((cands[i].p - maxL) * inv)))
		cands[i].p = w
		sum += float64(w)
	}
	if s.p.MinP > 0 {
		// The largest weight is exp(0) = 1, so min-p keeps weights >= MinP.
		kept := cands[:0]
		sum = 0
		for _, c := range cands {
			if c.p >= s.p.MinP {
				kept = append(kept, c)
				sum += float64(c.p)
			}
		}
		cands = kept
	}
	if s.p.TopP < 1 && len(cands) > 1 {
		slices.SortFunc(cands, func(a, b candidate) int {
			switch {
			case a.p > b.p:
				return -1
			case a.p < b.p:
				return 1
			}
			return int(a.id - b.id)
		})
		limit := float64(s.p.TopP) * sum
		var cum float64
		for i, c := range cands {
			cum += float64(c.p)
			if cum >= limit {
				cands = cands[:i+1]
				sum = cum
				break
			}
		}
	}
	s.cands = cands
	r := s.rng.Float64() * sum
	for _, c := range cands {
		r -= float64(c.p)
		if r < 0 {
			return c.id
		}
	}
	return cands[len(cands)-1].id
}

func argmax(x []float32) int32 {
	best, bi := x[0], 0
	for i, v := range x {
		if v > best {
			best, bi = v, i
		}
	}
	return int32(bi)
}

// topK returns the k largest logits (unordered) using a min-heap of size k.
func topK(dst []candidate, logits []float32, k int) []candidate {
	h := dst[:0]
	for i, l := range logits {
		if len(h) < k {
			h = append(h, candidate{int32(i), l})
			siftUp(h, len(h)-1)
			continue
		}
		if l > h[0].p {
			h[0] = candidate{int32(i), l}
			siftDown(h, 0)
		}
	}
	return h
}

func siftUp(h []candidate, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h[p].p <= h[i].p {
			return
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func siftDown(h []candidate, i int) {
	for {
		l, m := 2*i+1, i
		if l < len(h) && h[l].p < h[m].p {
			m = l
		}
		if r := l + 1; r < len(h) && h[r].p < h[m].p {
			m = r
		}
		if m == i {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// logprobs returns the log-probability of tok under the distribution draw samples
// from before truncation (temperature applied; greedy decoding reports temperature 1)
// and the top n alternatives. pieceOf gives a token's bytes.
func (s *sampler) logprobs(logits []float32, tok int32, n int, pieceOf func(int32) []byte) inference.TokenLogprob {
	temp := s.p.Temperature
	if temp <= 0 {
		temp = 1
	}
	inv := float64(1 / temp)
	maxL := float64(logits[argmax(logits)])
	var sum float64
	for _, l := range logits {
		if !math.IsInf(float64(l), -1) {
			sum += math.Exp((float64(l) - maxL) * inv)
		}
	}
	logZ := math.Log(sum)
	lp := func(id int32) float32 {
		l := float64(logits[id])
		if math.IsInf(l, -1) {
			return float32(math.Inf(-1))
		}
		return float32((l-maxL)*inv - logZ)
	}
	out := inference.TokenLogprob{Logprob: lp(tok)}
	if n > 0 {
		top := topK(make([]candidate, 0, n), logits, n)
		slices.SortFunc(top, func(a, b candidate) int {
			switch {
			case a.p > b.p:
				return -1
			case a.p < b.p:
				return 1
			}
			return int(a.id - b.id)
		})
		for _, c := range top {
			if math.IsInf(float64(c.p), -1) {
				continue
			}
			out.Top = append(out.Top, inference.TopLogprob{ID: c.id, Bytes: pieceOf(c.id), Logprob: lp(c.id)})
		}
	}
	return out
}
