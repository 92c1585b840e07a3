package rag

import (
	"container/heap"
	"math"
	"sort"
)

// BM25 parameters (the common defaults) and reciprocal-rank fusion's constant.
const (
	bm25K1 = 1.2
	bm25B  = 0.75
	rrfK   = 60
)

// index is one collection in memory, built from its stored chunks: an inverted index
// (term → postings) with document lengths for BM25, a trigram index over the
// vocabulary for fuzzy terms, and every vector in one contiguous []float32.
type index struct {
	coll   Collection
	chunks []Chunk // Terms and Vector dropped once indexed
	lens   []float32
	avgdl  float64
	post   map[string][]posting
	vocab  []string
	grams  map[string][]int32 // trigram → vocab ids
	dim    int
	vecs   []float32 // len(chunks)*dim, each row unit length (or zero)
}

type posting struct {
	chunk int32
	tf    int32
}

func buildIndex(c Collection, chunks []Chunk) *index {
	ix := &index{coll: c, chunks: chunks, lens: make([]float32, len(chunks)), post: map[string][]posting{}}
	var total float64
	for i := range chunks {
		ch := &chunks[i]
		n := 0
		for _, t := range ch.Terms {
			ix.post[t.Term] = append(ix.post[t.Term], posting{int32(i), int32(t.TF)})
			n += t.TF
		}
		ix.lens[i] = float32(n)
		total += float64(n)
		ch.Terms = nil
	}
	if len(chunks) > 0 {
		ix.avgdl = total / float64(len(chunks))
	}
	ix.grams = map[string][]int32{}
	ix.vocab = make([]string, 0, len(ix.post))
	for t := range ix.post {
		ix.vocab = append(ix.vocab, t)
	}
	sort.Strings(ix.vocab)
	for id, t := range ix.vocab {
		for _, g := range trigrams(t) {
			ix.grams[g] = append(ix.grams[g], int32(id))
		}
	}
	if c.Dim > 0 {
		ix.dim = c.Dim
		ix.vecs = make([]float32, len(chunks)*c.Dim)
		for i := range chunks {
			if v := chunks[i].Vector; len(v) == c.Dim {
				row := ix.vecs[i*c.Dim : (i+1)*c.Dim]
				copy(row, v)
				normalize(row)
			}
			chunks[i].Vector = nil
		}
	}
	return ix
}

// hit is a scored chunk.
type hit struct {
	chunk int
	score float64
}

// idf is BM25's inverse document frequency, never negative.
func idf(n, df int) float64 {
	return math.Log(1 + (float64(n)-float64(df)+0.5)/(float64(df)+0.5))
}

// bm25 scores every chunk holding a query term: the sum over terms of
// weight·idf·tf·(k1+1)/(tf+k1·(1-b+b·len/avgdl)). weights maps an indexed term to the
// weight of its query term (1 for an exact term).
func (ix *index) bm25(weights map[string]float64, k int) []hit {
	if len(ix.chunks) == 0 || ix.avgdl == 0 {
		return nil
	}
	n := len(ix.chunks)
	scores := make([]float64, n)
	var touched []int32
	for term, w := range weights {
		ps := ix.post[term]
		if len(ps) == 0 {
			continue
		}
		wi := w * idf(n, len(ps))
		for _, p := range ps {
			tf := float64(p.tf)
			norm := bm25K1 * (1 - bm25B + bm25B*float64(ix.lens[p.chunk])/ix.avgdl)
			if scores[p.chunk] == 0 {
				touched = append(touched, p.chunk)
			}
			scores[p.chunk] += wi * tf * (bm25K1 + 1) / (tf + norm)
		}
	}
	top := topK{k: k}
	for _, c := range touched {
		top.offer(hit{int(c), scores[c]})
	}
	return top.sorted()
}

// exactWeights weighs each distinct query term 1.
func exactWeights(terms []string) map[string]float64 {
	w := map[string]float64{}
	for _, t := range terms {
		w[t] = 1
	}
	return w
}

// fuzzyWeights maps each query term to the indexed terms within its edit distance
// (Damerau: a swap of neighbours is one edit) — none for terms of up to 3 letters, 1 up
// to 5, else 2 — found through shared trigrams, weighted 1 for the term itself and
// down by 0.25 per edit.
func (ix *index) fuzzyWeights(terms []string) map[string]float64 {
	w := map[string]float64{}
	for _, q := range terms {
		qr := []rune(q)
		maxd := 2
		switch {
		case len(qr) <= 3:
			maxd = 0
		case len(qr) <= 5:
			maxd = 1
		}
		if _, ok := ix.post[q]; ok {
			w[q] = max(w[q], 1)
		}
		if maxd == 0 {
			continue
		}
		seen := map[int32]bool{}
		for _, g := range trigrams(q) {
			for _, id := range ix.grams[g] {
				if seen[id] {
					continue
				}
				seen[id] = true
				t := ix.vocab[id]
				tr := []rune(t)
				if abs(len(tr)-len(qr)) > maxd {
					continue
				}
				if d := editDistance(qr, tr, maxd); d <= maxd {
					w[t] = max(w[t], 1-0.25*float64(d))
				}
			}
		}
	}
	return w
}

// semantic ranks chunks by cosine with q (unit rows, so a dot product); chunks with a
// zero vector or a non-positive cosine are left out.
func (ix *index) semantic(q []float32, k int) []hit {
	if ix.dim == 0 || len(q) != ix.dim {
		return nil
	}
	q = append([]float32(nil), q...)
	if !normalize(q) {
		return nil
	}
	top := topK{k: k}
	d := ix.dim
	// A sparse query (the lexical embedder's: two dimensions per term) only needs its
	// nonzero dimensions of each row: the same sum, a fraction of the work (see
	// BenchmarkRAGSearch and the README).
	var nz []int
	for j, x := range q {
		if x != 0 {
			nz = append(nz, j)
		}
	}
	if len(nz)*4 < d {
		qz := make([]float32, len(nz))
		for j, at := range nz {
			qz[j] = q[at]
		}
		for i := range ix.chunks {
			row := ix.vecs[i*d : (i+1)*d : (i+1)*d]
			var s float32
			for j, at := range nz {
				s += row[at] * qz[j]
			}
			if s > 1e-6 {
				top.offer(hit{i, float64(s)})
			}
		}
		return top.sorted()
	}
	for i := range ix.chunks {
		s := dot(ix.vecs[i*d:(i+1)*d:(i+1)*d], q)
		if s > 1e-6 {
			top.offer(hit{i, float64(s)})
		}
	}
	return top.sorted()
}

// dot is the inner product with four independent accumulators, which lets the CPU
// overlap the multiply-adds (see BenchmarkDot for what it buys over one).
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return s0 + s1 + s2 + s3
}

// normalize scales v to unit length; false when it is zero or not finite.
func normalize(v []float32) bool {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if n == 0 || math.IsNaN(n) || math.IsInf(n, 0) {
		clear(v)
		return false
	}
	inv := float32(1 / math.Sqrt(n))
	for i := range v {
		v[i] *= inv
	}
	return true
}

// fuse merges rankings by reciprocal-rank fusion: each chunk scores the sum of
// 1/(60+rank) over the rankings that hold it (rank from 1).
func fuse(k int, rankings ...[]hit) []hit {
	scores := map[int]float64{}
	for _, r := range rankings {
		for rank, h := range r {
			scores[h.chunk] += 1 / float64(rrfK+rank+1)
		}
	}
	top := topK{k: k}
	for c, s := range scores {
		top.offer(hit{c, s})
	}
	return top.sorted()
}

// topK keeps the k best hits; ties go to the earlier chunk, so results are stable.
type topK struct {
	k int
	h hitHeap
}

func better(a, b hit) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.chunk < b.chunk
}

func (t *topK) offer(x hit) {
	if t.k <= 0 {
		return
	}
	if len(t.h) < t.k {
		heap.Push(&t.h, x)
		return
	}
	if better(x, t.h[0]) {
		t.h[0] = x
		heap.Fix(&t.h, 0)
	}
}

func (t *topK) sorted() []hit {
	out := append([]hit(nil), t.h...)
	sort.Slice(out, func(i, j int) bool { return better(out[i], out[j]) })
	return out
}

// hitHeap is a min-heap: the worst kept hit on top.
type hitHeap []hit

func (h hitHeap) Len() int           { return len(h) }
func (h hitHeap) Less(i, j int) bool { return better(h[j], h[i]) }
func (h hitHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *hitHeap) Push(x any)        { *h = append(*h, x.(hit)) }
func (h *hitHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// trigrams of a term padded with '$' at both ends ("ai" → "$ai", "ai$").
func trigrams(term string) []string {
	r := append(append([]rune{'$'}, []rune(term)...), '$')
	if len(r) < 3 {
		return nil
	}
	out := make([]string, 0, len(r)-2)
	for i := 0; i+3 <= len(r); i++ {
		out = append(out, string(r[i:i+3]))
	}
	return out
}

// editDistance is the optimal-string-alignment distance (insert, delete, substitute,
// swap of neighbours), or maxd+1 as soon as it must exceed maxd.
func editDistance(a, b []rune, maxd int) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if rowMin > maxd {
			return maxd + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
