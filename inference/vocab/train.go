package vocab

import (
	"bufio"
	"container/heap"
	_ "embed"
	"slices"
	"strings"
	"sync"
)

// corpusText is prose written for this package. It only has to make the
// learned merges look like English (" the", "ing", " network"), not to be a
// good language sample.
//
//go:embed corpus.txt
var corpusText string

// wordsText lists common words, one per line; '#' starts a comment line.
//
//go:embed words.txt
var wordsText string

// trained is the outcome of running BPE on the embedded corpus to
// exhaustion. Training is greedy and never looks ahead, so the first k
// merges are exactly what training with a limit of k merges would produce;
// Generate therefore trains once per process and truncates.
type trained struct {
	// merges[i] creates token id 256+i from two earlier token ids.
	merges [][2]int32
	// tokens holds the encoded text of every byte and learned token by id.
	tokens []string
	// byteOrder lists the bytes that occur in the corpus, most frequent
	// first; fillers use them as building blocks.
	byteOrder []int32
}

var trainOnce = sync.OnceValue(train)

// corpusWords returns the pre-tokenized corpus as encoded words with their
// counts.
func corpusWords() map[string]int {
	counts := make(map[string]int)
	pretokenize(corpusText, func(w string) { counts[encodeBytes(w)]++ })
	sc := bufio.NewScanner(strings.NewReader(wordsText))
	for sc.Scan() {
		w := strings.TrimSpace(sc.Text())
		if w == "" || strings.HasPrefix(w, "#") {
			continue
		}
		// Weight 2: a word seen only once can never have its last pair
		// merged, because training stops when no pair occurs twice.
		counts[encodeBytes(" "+w)] += 2
	}
	return counts
}

type word struct {
	syms  []int32
	count int
}

type pair [2]int32

// pairItem is a candidate merge in the trainer's priority queue. Counts
// change as merges are applied; instead of updating entries in place a new
// item is pushed and items whose count no longer matches are skipped.
type pairItem struct {
	p     pair
	count int
}

type pairQueue struct {
	items  []pairItem
	tokens *[]string
}

func (q *pairQueue) Len() int { return len(q.items) }
func (q *pairQueue) Less(i, j int) bool {
	a, b := q.items[i], q.items[j]
	if a.count != b.count {
		return a.count > b.count
	}
	// Ties go to the lexicographically smallest pair so the result does
	// not depend on map iteration order.
	t := *q.tokens
	if la, lb := t[a.p[0]], t[b.p[0]]; la != lb {
		return la < lb
	}
	return t[a.p[1]] < t[b.p[1]]
}
func (q *pairQueue) Swap(i, j int) { q.items[i], q.items[j] = q.items[j], q.items[i] }
func (q *pairQueue) Push(x any)    { q.items = append(q.items, x.(pairItem)) }
func (q *pairQueue) Pop() any {
	it := q.items[len(q.items)-1]
	q.items = q.items[:len(q.items)-1]
	return it
}

func train() *trained {
	tr := &trained{tokens: make([]string, 256)}
	known := make(map[string]bool, 4096)
	for b := range 256 {
		tr.tokens[b] = string(byteToRune[b])
		known[tr.tokens[b]] = true
	}
	// A learned token must never collide with a special token's text.
	for _, s := range specialTexts {
		known[s] = true
	}

	counts := corpusWords()
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)

	var byteFreq [256]int
	words := make([]word, len(keys))
	for i, k := range keys {
		w := word{count: counts[k]}
		for _, r := range k {
			b, _ := UnicodeToByte(r)
			w.syms = append(w.syms, int32(b))
			byteFreq[b] += w.count
		}
		words[i] = w
	}
	for b := range 256 {
		if byteFreq[b] > 0 {
			tr.byteOrder = append(tr.byteOrder, int32(b))
		}
	}
	slices.SortStableFunc(tr.byteOrder, func(a, b int32) int { return byteFreq[b] - byteFreq[a] })

	pairCount := make(map[pair]int)
	// touched collects the pairs whose count changed since the last merge,
	// so only they need fresh queue items.
	touched := make(map[pair]bool)
	addPairs := func(w word, sign int) {
		for i := 0; i+1 < len(w.syms); i++ {
			p := pair{w.syms[i], w.syms[i+1]}
			c := pairCount[p] + sign*w.count
			if c == 0 {
				delete(pairCount, p)
			} else {
				pairCount[p] = c
			}
			touched[p] = true
		}
	}
	for _, w := range words {
		addPairs(w, 1)
	}
	q := &pairQueue{tokens: &tr.tokens}
	for p, c := range pairCount {
		q.items = append(q.items, pairItem{p, c})
	}
	heap.Init(q)

	for q.Len() > 0 {
		it := heap.Pop(q).(pairItem)
		if pairCount[it.p] != it.count {
			continue // stale: a fresher item for this pair is queued
		}
		if it.count < 2 {
			break
		}
		text := tr.tokens[it.p[0]] + tr.tokens[it.p[1]]
		if known[text] {
			// Another split already produced this string. A second merge
			// for the same token would break "one merge per token", so
			// this pair is simply never merged.
			continue
		}
		id := int32(len(tr.tokens))
		tr.tokens = append(tr.tokens, text)
		tr.merges = append(tr.merges, it.p)
		known[text] = true

		clear(touched)
		for wi := range words {
			w := &words[wi]
			if !containsPair(w.syms, it.p) {
				continue
			}
			addPairs(*w, -1)
			w.syms = applyMerge(w.syms, it.p, id)
			addPairs(*w, 1)
		}
		for p := range touched {
			if c, ok := pairCount[p]; ok {
				heap.Push(q, pairItem{p, c})
			}
		}
	}
	return tr
}

func containsPair(syms []int32, p pair) bool {
	for i := 0; i+1 < len(syms); i++ {
		if syms[i] == p[0] && syms[i+1] == p[1] {
			return true
		}
	}
	return false
}

// applyMerge replaces non-overlapping occurrences of p, left to right, with
// id, the same order BPE encoding applies a merge in.
func applyMerge(syms []int32, p pair, id int32) []int32 {
	out := syms[:0]
	for i := 0; i < len(syms); i++ {
		if i+1 < len(syms) && syms[i] == p[0] && syms[i+1] == p[1] {
			out = append(out, id)
			i++
			continue
		}
		out = append(out, syms[i])
	}
	return out
}
