package vocab

import (
	"bufio"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

var testSizes = []int{MinSize, 1000, 8192, 32000, 128256}

// cached vocabularies, so tests and fuzz iterations do not regenerate them.
var vocabs sync.Map // int -> *Vocab

func mustVocab(tb testing.TB, size int) *Vocab {
	tb.Helper()
	if v, ok := vocabs.Load(size); ok {
		return v.(*Vocab)
	}
	v, err := Generate(size)
	if err != nil {
		tb.Fatalf("Generate(%d): %v", size, err)
	}
	actual, _ := vocabs.LoadOrStore(size, v)
	return actual.(*Vocab)
}

func TestByteToUnicode(t *testing.T) {
	seen := map[rune]bool{}
	for b := range 256 {
		r := ByteToUnicode(byte(b))
		if seen[r] {
			t.Fatalf("byte %#x maps to %U, already used", b, r)
		}
		seen[r] = true
		if got, ok := UnicodeToByte(r); !ok || got != byte(b) {
			t.Fatalf("UnicodeToByte(%U) = %#x, %v; want %#x", r, got, ok, b)
		}
	}
	// Fixed points of the GPT-2 table that every GPT-2 vocabulary relies on.
	for b, want := range map[byte]rune{' ': 'Ġ', '\n': 'Ċ', '\t': 'ĉ', 'a': 'a', 0: 'Ā', 0xAD: 'Ń', 0xFF: 'ÿ'} {
		if got := ByteToUnicode(b); got != want {
			t.Errorf("ByteToUnicode(%#x) = %U, want %U", b, got, want)
		}
	}
	for _, r := range []rune{' ', '\n', 0x144, -1, 'Ġ' + 100, '日'} {
		if b, ok := UnicodeToByte(r); ok {
			t.Errorf("UnicodeToByte(%U) = %#x, true; want not ok", r, b)
		}
	}
}

func TestGenerateRejectsBadSizes(t *testing.T) {
	for _, n := range []int{-1, 0, 259, MinSize - 1, MaxSize + 1} {
		if v, err := Generate(n); err == nil {
			t.Errorf("Generate(%d) = %d tokens, want error", n, len(v.Tokens))
		}
	}
}

func TestGenerateDeterministic(t *testing.T) {
	for _, n := range testSizes {
		a, err := Generate(n)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Generate(n)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("Generate(%d) differs between calls", n)
		}
	}
}

// Training result must not depend on map iteration order inside train.
func TestTrainDeterministic(t *testing.T) {
	a, b := train(), train()
	if !reflect.DeepEqual(a, b) {
		t.Fatal("train() differs between calls")
	}
}

func TestSmallerVocabIsPrefix(t *testing.T) {
	small, big := mustVocab(t, 8192), mustVocab(t, 32000)
	n := len(small.Merges)
	if !slices.Equal(small.Merges, big.Merges[:n]) {
		t.Error("merges of size 8192 are not a prefix of size 32000's")
	}
	if !slices.Equal(small.Tokens[:256+n], big.Tokens[:256+n]) {
		t.Error("normal tokens of size 8192 are not a prefix of size 32000's")
	}
}

func TestLayout(t *testing.T) {
	for _, n := range testSizes {
		v := mustVocab(t, n)
		if len(v.Tokens) != n || len(v.Types) != n {
			t.Fatalf("size %d: %d tokens, %d types", n, len(v.Tokens), len(v.Types))
		}
		if got, want := len(v.Merges), n-256-3; got != want {
			t.Errorf("size %d: %d merges, want %d", n, got, want)
		}

		ids := make(map[string]int, n)
		for i, tok := range v.Tokens {
			if tok == "" {
				t.Errorf("size %d: token %d is empty", n, i)
			}
			if j, dup := ids[tok]; dup {
				t.Errorf("size %d: token %q at ids %d and %d", n, tok, j, i)
			}
			ids[tok] = i
		}

		for b := range 256 {
			if v.Tokens[b] != string(ByteToUnicode(byte(b))) {
				t.Errorf("size %d: token %d = %q, want byte token", n, b, v.Tokens[b])
			}
		}

		specials := []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}
		for i, s := range specials {
			id := n - 3 + i
			if v.Tokens[id] != s || v.Types[id] != 3 {
				t.Errorf("size %d: id %d = %q type %d, want %q type 3", n, id, v.Tokens[id], v.Types[id], s)
			}
		}
		for i := range n - 3 {
			if v.Types[i] != 1 {
				t.Fatalf("size %d: token %d %q has type %d, want 1", n, i, v.Tokens[i], v.Types[i])
			}
		}
		if v.BOS != int32(n-3) || v.PAD != int32(n-3) || v.EOS != int32(n-1) || v.EOT != int32(n-1) {
			t.Errorf("size %d: BOS %d PAD %d EOS %d EOT %d", n, v.BOS, v.PAD, v.EOS, v.EOT)
		}
	}
}

func TestMergesAreValid(t *testing.T) {
	for _, n := range testSizes {
		v := mustVocab(t, n)
		ids := make(map[string]int, n)
		for i, tok := range v.Tokens {
			ids[tok] = i
		}
		produced := make(map[string]bool, len(v.Merges))
		for rank, m := range v.Merges {
			left, right, ok := strings.Cut(m, " ")
			if !ok || strings.Contains(right, " ") {
				t.Fatalf("size %d: merge %d %q is not \"left right\"", n, rank, m)
			}
			l, okL := ids[left]
			r, okR := ids[right]
			res, okRes := ids[left+right]
			if !okL || !okR || !okRes {
				t.Fatalf("size %d: merge %d %q: left %v right %v result %v in vocab", n, rank, m, okL, okR, okRes)
			}
			// Merge i creates token 256+i, and its parts exist before it:
			// BPE can then reach every token, and rank order equals id
			// order.
			if res != 256+rank || l >= res || r >= res {
				t.Fatalf("size %d: merge %d %q: ids %d + %d -> %d", n, rank, m, l, r, res)
			}
			if produced[left+right] {
				t.Fatalf("size %d: token %q produced by two merges", n, left+right)
			}
			produced[left+right] = true
			if v.Types[res] != 1 {
				t.Fatalf("size %d: merge %d produces a special", n, rank)
			}
		}
	}
}

// Every normal token is one GPT-2 pre-token, so encoding can actually
// produce it. Learned tokens are by construction; fillers are filtered.
func TestTokensAreSingleWords(t *testing.T) {
	v := mustVocab(t, 128256)
	for i, tok := range v.Tokens[:len(v.Tokens)-3] {
		if !isSingleWord(decodeToken(tok)) {
			t.Fatalf("token %d %q spans a pre-token boundary", i, tok)
		}
	}
}

func TestCommonWordsAreShort(t *testing.T) {
	small := mustVocab(t, MinSize)
	if ids := small.Encode(" the"); len(ids) != 1 {
		t.Errorf("size %d: %q -> %v, want one token", MinSize, " the", ids)
	}

	v := mustVocab(t, 8192)
	for _, s := range []string{" the", " and", " of", " to", " is", " computer", " network", " energy", " weather", " data", " people"} {
		if ids := v.Encode(s); len(ids) != 1 {
			t.Errorf("%q -> %d tokens %v, want 1", s, len(ids), ids)
		}
	}
	// Every listed common word becomes one token once the vocabulary is big
	// enough to hold all learned merges.
	sc := bufio.NewScanner(strings.NewReader(wordsText))
	for sc.Scan() {
		w := strings.TrimSpace(sc.Text())
		if w == "" || strings.HasPrefix(w, "#") {
			continue
		}
		if ids := v.Encode(" " + w); len(ids) != 1 {
			t.Errorf("common word %q -> %d tokens", w, len(ids))
		}
	}
	// Ordinary prose compresses well below one token per byte.
	text := "The weather today is cold, and the network is slow because the server uses too much energy."
	if ids := v.Encode(text); len(ids)*3 > len(text) {
		t.Errorf("%d bytes -> %d tokens, want fewer than a third", len(text), len(ids))
	}
}

var roundTripCases = []string{
	"",
	" ",
	"the",
	"Hello, world!",
	"café déjà vu",
	"日本語のテキスト",
	"emoji 🙂👍🏽 and flags 🇩🇪",
	"line one\nline two\r\nline three\n\n",
	"\ttab\t\tseparated\tvalues",
	"many     spaces   between  words  ",
	"   leading and trailing   ",
	"digits 0123456789 and 3.14159, 1,000,000",
	"punctuation: !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
	"it's we're they've I'm we'll he'd don't",
	"<|endoftext|> is plain text here <|im_start|>user<|im_end|>",
	"\x00\x01\x7f control bytes",
	"\u00a0nbsp\u2003em space\u3000ideographic",
	"mixed123abc!!!   \n\t  end",
	// Repeated letters give several equal-rank candidates in one word;
	// BPE must take the leftmost first.
	"fff eeee lllll ooo ssss",
}

func TestRoundTrip(t *testing.T) {
	for _, n := range []int{MinSize, 8192, 128256} {
		v := mustVocab(t, n)
		for _, s := range roundTripCases {
			ids := v.Encode(s)
			if got := v.Decode(ids); got != s {
				t.Errorf("size %d: Decode(Encode(%q)) = %q", n, s, got)
			}
			if want := referenceEncode(v, s); !slices.Equal(ids, want) {
				t.Errorf("size %d: Encode(%q) = %v, reference BPE gives %v", n, s, ids, want)
			}
		}
	}
}

func TestEncodeDoesNotProduceSpecials(t *testing.T) {
	v := mustVocab(t, 8192)
	for _, id := range v.Encode("<|endoftext|><|im_start|><|im_end|>") {
		if v.Types[id] != 1 {
			t.Fatalf("plain text encoded to special %d %q", id, v.Tokens[id])
		}
	}
}

func TestDecodeSpecials(t *testing.T) {
	v := mustVocab(t, 8192)
	ids := append([]int32{v.BOS}, v.Encode("hi")...)
	ids = append(ids, v.EOS, -5, int32(len(v.Tokens)))
	if got, want := v.Decode(ids), "<|endoftext|>hi<|im_end|>"; got != want {
		t.Errorf("Decode = %q, want %q", got, want)
	}
}

func TestNewlineIsByteToken(t *testing.T) {
	// llama.cpp takes the linefeed id from tokenizing "\n".
	v := mustVocab(t, 8192)
	if ids := v.Encode("\n"); len(ids) != 1 || ids[0] != '\n' {
		t.Errorf(`Encode("\n") = %v, want [10]`, ids)
	}
}

func TestPretokenize(t *testing.T) {
	cases := map[string][]string{
		"Hello world":         {"Hello", " world"},
		"it's  fine":          {"it", "'s", " ", " fine"},
		"a   b":               {"a", "  ", " b"},
		"x\n\ny":              {"x", "\n", "\n", "y"},
		"x\n\n":               {"x", "\n\n"},
		"a \n b":              {"a", " \n", " b"},
		"end   ":              {"end", "   "},
		"abc123 456!?":        {"abc", "123", " 456", "!?"},
		" !!x":                {" !!", "x"},
		"We'LL'll've":         {"We", "'", "LL", "'ll", "'ve"},
		"日本 語":                {"日本", " 語"},
		"tab\tx":              {"tab", "\t", "x"},
		"\xff\xfe ok":         {"\xff\xfe", " ok"},
		"snake_case-and.dots": {"snake", "_", "case", "-", "and", ".", "dots"},
	}
	for in, want := range cases {
		if got := pieces(in); !slices.Equal(got, want) {
			t.Errorf("pretokenize(%q) = %q, want %q", in, got, want)
		}
		if got := referencePieces(in); !slices.Equal(got, want) {
			t.Errorf("referencePieces(%q) = %q, want %q (test helper is wrong)", in, got, want)
		}
	}
}

func pieces(s string) []string {
	var out []string
	pretokenize(s, func(p string) { out = append(out, p) })
	return out
}

// gpt2Regex is the GPT-2 pattern without the (?!\S) lookahead, which Go's
// regexp lacks; referencePieces emulates it. \s is spelled out because Go's
// \s is ASCII-only while the original (Python, Rust, llama.cpp) is Unicode.
var (
	gpt2Regex = regexp.MustCompile(`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^` + unicodeSpace + `\p{L}\p{N}]+|[` + unicodeSpace + `]+`)
	spaceRun  = regexp.MustCompile(`^[` + unicodeSpace + `]+$`)
)

// unicodeSpace is the Unicode White_Space set as a character-class body.
const unicodeSpace = `\t\n\v\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}`

// referencePieces splits with the regexp package, independent of
// pretokenize's hand-written matcher.
func referencePieces(s string) []string {
	var out []string
	for len(s) > 0 {
		loc := gpt2Regex.FindStringIndex(s)
		if loc == nil || loc[0] != 0 {
			// Cannot happen: every character starts some alternative.
			panic("gpt2Regex skipped text in " + s)
		}
		end := loc[1]
		m := s[:end]
		// \s+(?!\S): a whitespace run of two or more characters that is
		// followed by more text gives its last character back.
		if spaceRun.MatchString(m) && end < len(s) && utf8.RuneCountInString(m) > 1 {
			_, last := utf8.DecodeLastRuneInString(m)
			end -= last
		}
		out = append(out, s[:end])
		s = s[end:]
	}
	return out
}

type referenceTables struct {
	ranks map[[2]string]int
	ids   map[string]int32
}

var referenceCache sync.Map // *Vocab -> *referenceTables

// referenceEncode is textbook GPT-2 BPE on token strings: per pre-token,
// repeatedly find the lowest-ranked adjacent pair and merge all of its
// occurrences left to right.
func referenceEncode(v *Vocab, text string) []int32 {
	tabs, ok := referenceCache.Load(v)
	if !ok {
		rt := &referenceTables{
			ranks: make(map[[2]string]int, len(v.Merges)),
			ids:   make(map[string]int32, len(v.Tokens)),
		}
		for i, m := range v.Merges {
			l, r, _ := strings.Cut(m, " ")
			rt.ranks[[2]string{l, r}] = i
		}
		for i, tok := range v.Tokens[:len(v.Tokens)-3] {
			rt.ids[tok] = int32(i)
		}
		tabs, _ = referenceCache.LoadOrStore(v, rt)
	}
	rt := tabs.(*referenceTables)

	var out []int32
	for _, p := range referencePieces(text) {
		var parts []string
		for i := 0; i < len(p); i++ {
			parts = append(parts, string(ByteToUnicode(p[i])))
		}
		for {
			best, bestRank := -1, len(v.Merges)
			for i := 0; i+1 < len(parts); i++ {
				if r, ok := rt.ranks[[2]string{parts[i], parts[i+1]}]; ok && r < bestRank {
					best, bestRank = i, r
				}
			}
			if best < 0 {
				break
			}
			l, r := parts[best], parts[best+1]
			var next []string
			for i := 0; i < len(parts); i++ {
				if i+1 < len(parts) && parts[i] == l && parts[i+1] == r {
					next = append(next, l+r)
					i++
				} else {
					next = append(next, parts[i])
				}
			}
			parts = next
		}
		for _, s := range parts {
			id, ok := rt.ids[s]
			if !ok {
				panic("reference BPE produced non-token " + s)
			}
			out = append(out, id)
		}
	}
	return out
}

// naiveTrain recounts every pair on every step; train must agree with it.
func naiveTrain() [][2]string {
	counts := corpusWords()
	type w struct {
		parts []string
		n     int
	}
	var words []w
	for k, n := range counts {
		var parts []string
		for _, r := range k {
			parts = append(parts, string(r))
		}
		words = append(words, w{parts, n})
	}
	known := map[string]bool{"<|endoftext|>": true, "<|im_start|>": true, "<|im_end|>": true}
	for b := range 256 {
		known[string(ByteToUnicode(byte(b)))] = true
	}
	var merges [][2]string
	for {
		pc := map[[2]string]int{}
		for _, x := range words {
			for i := 0; i+1 < len(x.parts); i++ {
				pc[[2]string{x.parts[i], x.parts[i+1]}] += x.n
			}
		}
		var best [2]string
		bestN := 0
		for p, n := range pc {
			if known[p[0]+p[1]] {
				continue
			}
			if n > bestN || n == bestN && (p[0] < best[0] || p[0] == best[0] && p[1] < best[1]) {
				best, bestN = p, n
			}
		}
		if bestN < 2 {
			return merges
		}
		merges = append(merges, best)
		known[best[0]+best[1]] = true
		for wi := range words {
			parts := words[wi].parts
			var next []string
			for i := 0; i < len(parts); i++ {
				if i+1 < len(parts) && parts[i] == best[0] && parts[i+1] == best[1] {
					next = append(next, best[0]+best[1])
					i++
				} else {
					next = append(next, parts[i])
				}
			}
			words[wi].parts = next
		}
	}
}

func TestTrainMatchesNaive(t *testing.T) {
	tr := trainOnce()
	want := naiveTrain()
	if len(want) < 500 {
		t.Fatalf("naive training learned only %d merges; corpus too small?", len(want))
	}
	if len(tr.merges) != len(want) {
		t.Errorf("train learned %d merges, naive %d", len(tr.merges), len(want))
	}
	for i := range min(len(tr.merges), len(want)) {
		got := [2]string{tr.tokens[tr.merges[i][0]], tr.tokens[tr.merges[i][1]]}
		if got != want[i] {
			t.Fatalf("merge %d: train %q, naive %q", i, got, want[i])
		}
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, s := range roundTripCases {
		f.Add(s)
	}
	f.Add("\xff\xfe\xc3 broken \xe6\x97 utf8")
	v := mustVocab(f, 8192)
	f.Fuzz(func(t *testing.T, s string) {
		ids := v.Encode(s) // must not panic on any bytes
		for _, id := range ids {
			if id < 0 || int(id) >= len(v.Tokens) || v.Types[id] != 1 {
				t.Fatalf("Encode(%q) produced id %d", s, id)
			}
		}
		// Checked for every input, not only valid UTF-8: Encode keeps
		// invalid bytes instead of replacing them.
		if got := v.Decode(ids); got != s {
			t.Fatalf("Decode(Encode(%q)) = %q (valid UTF-8: %v)", s, got, utf8.ValidString(s))
		}
		if want := referencePieces(s); !slices.Equal(pieces(s), want) {
			t.Fatalf("pretokenize(%q) = %q, regexp reference %q", s, pieces(s), want)
		}
		if want := referenceEncode(v, s); !slices.Equal(ids, want) {
			t.Fatalf("Encode(%q) = %v, reference BPE %v", s, ids, want)
		}
	})
}

func BenchmarkGenerate(b *testing.B) {
	for _, n := range []int{8192, 32000, 128256} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				if _, err := Generate(n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	v := mustVocab(b, 32000)
	text := corpusText
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		v.Encode(text)
	}
}
