package vocab

import (
	"strings"
)

// index is the lookup state Encode and Decode need, derived from the
// exported fields once.
type index struct {
	byteID [256]int32         // token id of each single byte, -1 if missing
	merges map[uint64]mergeTo // (left id, right id) -> rank and result
	pieces []string           // raw bytes each id decodes to
}

type mergeTo struct {
	rank   int32
	result int32
}

func mergeKey(l, r int32) uint64 { return uint64(uint32(l))<<32 | uint64(uint32(r)) }

func (v *Vocab) lookup() *index {
	if ix := v.index.Load(); ix != nil {
		return ix
	}
	// Concurrent first calls may both build; the results are identical and
	// the loser's copy is dropped.
	ix := buildIndex(v)
	v.index.Store(ix)
	return ix
}

func buildIndex(v *Vocab) *index {
	ix := &index{
		merges: make(map[uint64]mergeTo, len(v.Merges)),
		pieces: make([]string, len(v.Tokens)),
	}
	ids := make(map[string]int32, len(v.Tokens))
	for i, t := range v.Tokens {
		special := i < len(v.Types) && v.Types[i] == TypeControl
		if special {
			// Specials decode to their own text and are never produced by
			// encoding plain text.
			ix.pieces[i] = t
			continue
		}
		ix.pieces[i] = decodeToken(t)
		if _, dup := ids[t]; !dup {
			ids[t] = int32(i)
		}
	}
	for b := range 256 {
		id, ok := ids[string(byteToRune[b])]
		if !ok {
			id = -1
		}
		ix.byteID[b] = id
	}
	for rank, m := range v.Merges {
		// Like llama.cpp, split at the first space after the first byte.
		sp := strings.IndexByte(m[min(1, len(m)):], ' ') + 1
		if sp <= 0 {
			continue
		}
		left, right := m[:sp], m[sp+1:]
		l, okL := ids[left]
		r, okR := ids[right]
		res, okRes := ids[left+right]
		// Encoding works on token ids, so a merge that names or produces
		// a string that is not a token cannot apply. Generated
		// vocabularies never contain such merges.
		if !okL || !okR || !okRes {
			continue
		}
		k := mergeKey(l, r)
		if _, dup := ix.merges[k]; !dup { // the first (lowest) rank wins, as in llama.cpp
			ix.merges[k] = mergeTo{rank: int32(rank), result: res}
		}
	}
	return ix
}

// Encode tokenizes plain text the way llama.cpp's GPT-2 BPE tokenizer does:
// split with the GPT-2 pre-tokenizer, map each piece's bytes to their
// tokens, then repeatedly apply the lowest-ranked merge (leftmost first on
// ties) until none applies. Special-token text is not recognised; it is
// encoded as ordinary text. Unlike llama.cpp, invalid UTF-8 bytes are kept
// rather than replaced by U+FFFD, so Decode(Encode(s)) == s for any s.
func (v *Vocab) Encode(text string) []int32 {
	ix := v.lookup()
	var (
		out []int32
		bpe bpeState
	)
	pretokenize(text, func(piece string) {
		out = bpe.encodeWord(ix, piece, out)
	})
	return out
}

// Decode maps ids back to text. Specials decode to their own text; ids out
// of range are skipped.
func (v *Vocab) Decode(ids []int32) string {
	ix := v.lookup()
	var sb strings.Builder
	for _, id := range ids {
		if id >= 0 && int(id) < len(ix.pieces) {
			sb.WriteString(ix.pieces[id])
		}
	}
	return sb.String()
}

// symbol is one token of a word being merged; symbols form a doubly linked
// list so merging is O(1).
type symbol struct {
	id         int32
	prev, next int32 // -1 at the ends
	dead       bool  // merged into its left neighbour
}

// bigram is a merge candidate between adjacent symbols. Entries are not
// removed when a merge invalidates them; encodeWord checks that both sides
// still hold the ids recorded here.
type bigram struct {
	rank, left, right int32
	lid, rid, result  int32
}

// bpeState holds buffers reused across the words of one Encode call.
type bpeState struct {
	syms []symbol
	heap []bigram
}

func (s *bpeState) encodeWord(ix *index, piece string, out []int32) []int32 {
	s.syms = s.syms[:0]
	s.heap = s.heap[:0]
	for i := 0; i < len(piece); i++ {
		id := ix.byteID[piece[i]]
		if id < 0 {
			continue // no token for this byte; llama.cpp drops it too
		}
		n := int32(len(s.syms))
		s.syms = append(s.syms, symbol{id: id, prev: n - 1, next: n + 1})
	}
	if len(s.syms) == 0 {
		return out
	}
	s.syms[len(s.syms)-1].next = -1
	for i := int32(0); i+1 < int32(len(s.syms)); i++ {
		s.addBigram(ix, i, i+1)
	}
	for len(s.heap) > 0 {
		b := s.pop()
		left, right := &s.syms[b.left], &s.syms[b.right]
		if left.dead || right.dead || left.id != b.lid || right.id != b.rid || left.next != b.right {
			continue // outdated by an earlier merge
		}
		left.id = b.result
		right.dead = true
		left.next = right.next
		if right.next >= 0 {
			s.syms[right.next].prev = b.left
		}
		if left.prev >= 0 {
			s.addBigram(ix, left.prev, b.left)
		}
		if left.next >= 0 {
			s.addBigram(ix, b.left, left.next)
		}
	}
	for i := int32(0); i >= 0; i = s.syms[i].next {
		out = append(out, s.syms[i].id)
	}
	return out
}

func (s *bpeState) addBigram(ix *index, l, r int32) {
	m, ok := ix.merges[mergeKey(s.syms[l].id, s.syms[r].id)]
	if !ok {
		return
	}
	s.push(bigram{rank: m.rank, left: l, right: r, lid: s.syms[l].id, rid: s.syms[r].id, result: m.result})
}

// less orders bigrams by rank, then by position, the order llama.cpp's
// llm_bigram_bpe comparator pops them in.
func (b bigram) less(o bigram) bool {
	return b.rank < o.rank || b.rank == o.rank && b.left < o.left
}

// push and pop implement a binary min-heap on s.heap; a hand-rolled heap
// avoids container/heap's interface boxing on this hot path.
func (s *bpeState) push(b bigram) {
	h := append(s.heap, b)
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h[i].less(h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	s.heap = h
}

func (s *bpeState) pop() bigram {
	h := s.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && h[l].less(h[m]) {
			m = l
		}
		if r < len(h) && h[r].less(h[m]) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	s.heap = h
	return top
}
