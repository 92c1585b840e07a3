package grammar

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkAllowed walks a 32k-token vocabulary (random 1-8 byte pieces) inside a
// JSON-like string, the worst case: nearly every token is allowed.
func BenchmarkAllowed(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	alphabet := []byte(`abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ0123456789",:{}[]`)
	pieces := make([][]byte, 32000)
	for i := range pieces {
		p := make([]byte, 1+rng.IntN(8))
		for j := range p {
			p[j] = alphabet[rng.IntN(len(alphabet))]
		}
		pieces[i] = p
	}
	trie := NewTrie(pieces)
	bl := NewBuilder()
	char := Chars(Range{0x20, 0x21}, Range{0x23, 0x5B}, Range{0x5D, 0x7F})
	str := bl.Rule("string", Seq(Lit(`"`), bl.Star("chars", char), Lit(`"`)))
	g, err := bl.Build(bl.Rule("root", Seq(Lit(`{"a":`), str, Lit(`}`))))
	if err != nil {
		b.Fatal(err)
	}
	m := g.NewMatcher()
	m.Accept([]byte(`{"a":"x`))
	allowed := make([]bool, len(pieces))
	b.ResetTimer()
	for b.Loop() {
		clear(allowed)
		m.Allowed(trie, allowed)
	}
}
