package grammar

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// digits: [1-9][0-9]* | 0 ; list: "[" (num ("," num)*)? "]"
func listGrammar(t *testing.T) *Grammar {
	t.Helper()
	b := NewBuilder()
	num := b.Alt("num", Lit("0"), Seq(Chars(Range{'1', '9'}), b.Star("digits", Chars(Range{'0', '9'}))))
	more := b.Star("more", Seq(Lit(","), num))
	list := b.Rule("list", Seq(Lit("["), b.Opt("items", Seq(num, more)), Lit("]")))
	g, err := b.Build(list)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestMatch(t *testing.T) {
	g := listGrammar(t)
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"[]", true}, {"[0]", true}, {"[12,0,305]", true}, {"[01]", false}, {"[1,]", false},
		{"[", false}, {"", false}, {"[1]]", false}, {"[1 ]", false},
	} {
		if got := g.Match([]byte(tc.in)); got != tc.want {
			t.Errorf("Match(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestMatcherStates(t *testing.T) {
	g := listGrammar(t)
	m := g.NewMatcher()
	if m.Done() || m.Final() {
		t.Fatal("empty input is not a sentence")
	}
	if !m.Accept([]byte("[1")) || m.Done() {
		t.Fatal("[1 is a prefix, not a sentence")
	}
	if m.Accept([]byte("x")) {
		t.Fatal("x accepted")
	}
	if !m.CanAccept([]byte("2]")) || !m.Accept([]byte("2]")) {
		t.Fatal("refused 2]")
	}
	if !m.Done() || !m.Final() {
		t.Fatal("[12] is complete and final")
	}
	// A number at the top level is complete but may continue.
	b := NewBuilder()
	n := b.Plus("n", Chars(Range{'0', '9'}))
	g2, err := b.Build(n)
	if err != nil {
		t.Fatal(err)
	}
	m2 := g2.NewMatcher()
	m2.Accept([]byte("12"))
	if !m2.Done() || m2.Final() {
		t.Fatal("12 is complete but not final")
	}
}

func TestLeftRecursionRefused(t *testing.T) {
	b := NewBuilder()
	r := b.NewRule("r")
	opt := b.Opt("o", Lit("a"))
	b.Define(r, Seq(opt, r, Lit("b")), Lit("c"))
	if _, err := b.Build(r); err == nil || !strings.Contains(err.Error(), "left-recursive") {
		t.Fatalf("err = %v, want left recursion", err)
	}
	b = NewBuilder()
	u := b.NewRule("u")
	if _, err := b.Build(u); err == nil {
		t.Fatal("undefined rule accepted")
	}
}

func TestRepeat(t *testing.T) {
	b := NewBuilder()
	g, err := b.Build(b.Rule("r", b.Repeat("a", Lit("a"), 2, 4)))
	if err != nil {
		t.Fatal(err)
	}
	for n := range 7 {
		want := n >= 2 && n <= 4
		if got := g.Match([]byte(strings.Repeat("a", n))); got != want {
			t.Errorf("%d a's: %v, want %v", n, got, want)
		}
	}
}

// Allowed must agree with CanAccept on every token.
func TestAllowedMatchesBruteForce(t *testing.T) {
	g := listGrammar(t)
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("[],0123456789x ")
	var pieces [][]byte
	pieces = append(pieces, nil) // a control token
	for range 2000 {
		n := 1 + rng.IntN(5)
		p := make([]byte, n)
		for i := range p {
			p[i] = alphabet[rng.IntN(len(alphabet))]
		}
		pieces = append(pieces, p)
	}
	trie := NewTrie(pieces)
	for _, prefix := range []string{"", "[", "[1", "[10,", "[3,4]"} {
		m := g.NewMatcher()
		if !m.Accept([]byte(prefix)) {
			t.Fatalf("prefix %q refused", prefix)
		}
		allowed := make([]bool, len(pieces))
		n := m.Allowed(trie, allowed)
		count := 0
		for id, p := range pieces {
			want := len(p) > 0 && m.CanAccept(p)
			if allowed[id] != want {
				t.Fatalf("prefix %q token %q: allowed %v, CanAccept %v", prefix, p, allowed[id], want)
			}
			if want {
				count++
			}
		}
		if n != count {
			t.Fatalf("Allowed returned %d, set %d", n, count)
		}
	}
}
