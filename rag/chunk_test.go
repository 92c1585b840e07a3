package rag

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

func TestSplit(t *testing.T) {
	words := func(n int) string {
		var w []string
		for i := range n {
			w = append(w, "w"+string(rune('a'+i%26))+strings.Repeat("x", i/26))
		}
		return strings.Join(w, " ")
	}
	tests := []struct {
		name     string
		text     string
		strategy string
		cfg      ChunkConfig
		want     []string
	}{
		{"word exact windows", "a b c d e f g h i j", "word", ChunkConfig{8, 2}, []string{"a b c d e f g h", "g h i j"}},
		{"word no overlap", "a b c d e f g h i j k l m n o p", "word", ChunkConfig{8, 0}, []string{"a b c d e f g h", "i j k l m n o p"}},
		{"word shorter than a chunk", "  one\ttwo\nthree  ", "", ChunkConfig{8, 2}, []string{"one two three"}},
		{"word last window ends at the end", words(12), "word", ChunkConfig{8, 4}, []string{words(8), strings.Join(strings.Fields(words(12))[4:], " ")}},
		{"no words", " \n\t ", "word", ChunkConfig{8, 2}, nil},
		{"sentences packed", "One two three. Four five six! Seven eight? Nine ten eleven twelve.", "sentence", ChunkConfig{8, 0},
			[]string{"One two three. Four five six! Seven eight?", "Nine ten eleven twelve."}},
		{"sentences packed, smaller", "One two three. Four five six! Seven eight? Nine ten eleven twelve.", "sentence", ChunkConfig{Size: 8, Overlap: 0}.with(7),
			[]string{"One two three. Four five six!", "Seven eight? Nine ten eleven twelve."}},
		{"sentence overlap carries the last sentence", "One two three. Four five six! Seven eight? Nine ten eleven twelve.", "sentence", ChunkConfig{8, 3},
			[]string{"One two three. Four five six! Seven eight?", "Seven eight? Nine ten eleven twelve."}},
		{"sentence overlap, smaller chunks", "One two three. Four five six! Seven eight? Nine ten eleven twelve.", "sentence", ChunkConfig{Size: 8, Overlap: 3}.with(6),
			[]string{"One two three. Four five six!", "Four five six! Seven eight?", "Seven eight? Nine ten eleven twelve."}},
		{"sentence: decimals and abbreviations without a space stay", "Pi is 3.14 exactly. Yes.", "sentence", ChunkConfig{8, 0},
			[]string{"Pi is 3.14 exactly. Yes."}},
		{"sentence longer than a chunk is cut by words", "a b c d e f g h i j k l. m n.", "sentence", ChunkConfig{8, 0},
			[]string{"a b c d e f g h", "i j k l. m n."}},
		{"paragraphs", "Para one line one\nline two.\n\n\nPara two.\n  \nPara three is here.", "paragraph", ChunkConfig{8, 0},
			[]string{"Para one line one line two.\n\nPara two.", "Para three is here."}},
		{"paragraph overlap", "p1 a b c\n\np2 d e\n\np3 f g h i", "paragraph", ChunkConfig{8, 3},
			[]string{"p1 a b c\n\np2 d e", "p2 d e\n\np3 f g h i"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Split(tc.text, tc.strategy, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestSplitRefuses(t *testing.T) {
	for _, tc := range []struct {
		strategy string
		cfg      ChunkConfig
		field    string
	}{
		{"tokens", DefaultChunking, "chunking_strategy"},
		{"word", ChunkConfig{3, 0}, "chunk_size"},
		{"word", ChunkConfig{MaxChunkSize + 1, 0}, "chunk_size"},
		{"word", ChunkConfig{10, 6}, "chunk_overlap"},
		{"word", ChunkConfig{10, -1}, "chunk_overlap"},
	} {
		_, err := Split("some text here", tc.strategy, tc.cfg)
		ve, ok := err.(*ValidationError)
		if !ok || ve.Field != tc.field {
			t.Errorf("%s %+v: %v, want an error on %s", tc.strategy, tc.cfg, err, tc.field)
		}
	}
}

// Every word of the text is in some chunk, in order, and no chunk is over size.
func checkCover(t *testing.T, text, strategy string, cfg ChunkConfig) {
	chunks, err := Split(text, strategy, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Fields(text)
	var seen []string
	for _, c := range chunks {
		ws := strings.Fields(c)
		if len(ws) == 0 || len(ws) > cfg.Size {
			t.Fatalf("chunk of %d words (size %d): %q", len(ws), cfg.Size, c)
		}
		// Drop the overlap: the longest prefix of ws that is a suffix of seen.
		k := min(len(ws), len(seen))
		for ; k > 0; k-- {
			if slices.Equal(seen[len(seen)-k:], ws[:k]) {
				break
			}
		}
		seen = append(seen, ws[k:]...)
	}
	if !slices.Equal(seen, want) && len(want) > 0 {
		t.Fatalf("%s chunks do not cover the text in order:\n%q\nfrom %q", strategy, chunks, text)
	}
}

// tagWords prefixes each word of text with its position ("3#word"), keeping the
// separators, so every word is distinct and overlaps are unambiguous.
func tagWords(text string) string {
	var b strings.Builder
	n, inWord := 0, false
	for _, r := range text {
		space := unicode.IsSpace(r)
		if !space && !inWord {
			b.WriteString(strconv.Itoa(n) + "#")
			n++
		}
		inWord = !space
		b.WriteRune(r)
	}
	return b.String()
}

func FuzzChunker(f *testing.F) {
	f.Add("One two three. Four five six!\n\nSeven eight? Nine ten eleven twelve.", uint8(8), uint8(3))
	f.Add("a\n\n\n\nb c d. e f g h i j k l m n o p q", uint8(8), uint8(0))
	f.Add("日本語 の テキスト。 Ünïcödé wörds ... ?! \"quoted.\" end", uint8(10), uint8(5))
	f.Fuzz(func(t *testing.T, text string, size, overlap uint8) {
		cfg := ChunkConfig{Size: MinChunkSize + int(size)%64, Overlap: 0}
		cfg.Overlap = int(overlap) % (cfg.Size/2 + 1)
		for _, s := range []string{ChunkWord, ChunkSentence, ChunkParagraph} {
			checkCover(t, tagWords(text), s, cfg)
		}
	})
}

func (c ChunkConfig) with(size int) ChunkConfig { c.Size = size; return c }
