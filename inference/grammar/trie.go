package grammar

import "slices"

// Trie holds a vocabulary's token bytes as a prefix tree, so the tokens a Matcher
// accepts are found by walking shared prefixes once.
type Trie struct {
	nodes  []trieNode
	ntoken int
}

type trieNode struct {
	edges  []trieEdge // sorted by byte
	tokens []int32    // tokens whose bytes end here
}

type trieEdge struct {
	b    byte
	node int32
}

// NewTrie indexes pieces[id] (the bytes of token id). Empty pieces (control tokens)
// are left out: no grammar accepts them.
func NewTrie(pieces [][]byte) *Trie {
	t := &Trie{nodes: []trieNode{{}}, ntoken: len(pieces)}
	for id, p := range pieces {
		if len(p) == 0 {
			continue
		}
		n := int32(0)
		for _, c := range p {
			n = t.child(n, c)
		}
		t.nodes[n].tokens = append(t.nodes[n].tokens, int32(id))
	}
	return t
}

func (t *Trie) child(n int32, c byte) int32 {
	es := t.nodes[n].edges
	i, found := slices.BinarySearchFunc(es, c, func(e trieEdge, c byte) int { return int(e.b) - int(c) })
	if found {
		return es[i].node
	}
	id := int32(len(t.nodes))
	t.nodes = append(t.nodes, trieNode{})
	t.nodes[n].edges = slices.Insert(t.nodes[n].edges, i, trieEdge{b: c, node: id})
	return id
}

// Tokens is the vocabulary size the trie was built for.
func (t *Trie) Tokens() int { return t.ntoken }

// Allowed sets allowed[id] for every token the matcher accepts next (it does not
// clear other entries) and returns how many it set.
func (m *Matcher) Allowed(t *Trie, allowed []bool) int {
	var bufs [][]*stack
	var walk func(n int32, stacks []*stack, depth int) int
	walk = func(n int32, stacks []*stack, depth int) int {
		if depth >= len(bufs) {
			bufs = append(bufs, make([]*stack, 0, 8))
		}
		count := 0
		for _, e := range t.nodes[n].edges {
			next := m.g.advance(stacks, e.b, bufs[depth])
			bufs[depth] = next
			if len(next) == 0 {
				continue
			}
			for _, id := range t.nodes[e.node].tokens {
				if !allowed[id] {
					allowed[id] = true
					count++
				}
			}
			if len(t.nodes[e.node].edges) > 0 {
				// The child walk uses deeper buffers; ours is intact on return.
				count += walk(e.node, next, depth+1)
			}
		}
		return count
	}
	return walk(0, m.stacks, 0)
}
