package rag

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// ChunkConfig sizes a collection's chunks, in words (whitespace-separated). Sentence
// and paragraph chunking pack whole sentences or paragraphs up to Size words (a longer
// one is cut by words) and start the next chunk with the previous chunk's trailing
// units that fit in Overlap words; word chunking slides a window of Size words by
// Size-Overlap.
type ChunkConfig struct {
	Size    int
	Overlap int
}

// Chunking defaults and bounds.
const (
	DefaultChunkSize    = 200
	DefaultChunkOverlap = 40
	MinChunkSize        = 4
	MaxChunkSize        = 4000
)

// DefaultChunking is a collection's chunking unless its first ingest says otherwise.
var DefaultChunking = ChunkConfig{Size: DefaultChunkSize, Overlap: DefaultChunkOverlap}

func (c ChunkConfig) validate() error {
	if c.Size < MinChunkSize || c.Size > MaxChunkSize {
		return invalid("chunk_size", "must be between %d and %d words", MinChunkSize, MaxChunkSize)
	}
	if c.Overlap < 0 || c.Overlap > c.Size/2 {
		return invalid("chunk_overlap", "must be between 0 and half of chunk_size (%d words)", c.Size/2)
	}
	return nil
}

// Split cuts text into chunks by strategy (word, sentence or paragraph). It never
// returns an empty chunk; text without words gives none.
func Split(text, strategy string, cfg ChunkConfig) ([]string, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	switch strategy {
	case ChunkWord, "":
		return windows(strings.Fields(text), cfg), nil
	case ChunkSentence:
		return pack(sentences(text), " ", cfg), nil
	case ChunkParagraph:
		return pack(paragraphs(text), "\n\n", cfg), nil
	}
	return nil, invalid("chunking_strategy", "unknown chunking strategy %q (word, sentence or paragraph)", strategy)
}

// windows slides Size words by Size-Overlap; the last window ends at the last word.
func windows(words []string, cfg ChunkConfig) []string {
	var out []string
	step := cfg.Size - cfg.Overlap
	for start := 0; start < len(words); start += step {
		end := min(start+cfg.Size, len(words))
		out = append(out, strings.Join(words[start:end], " "))
		if end == len(words) {
			break
		}
	}
	return out
}

type unit struct {
	text  string
	words int
}

// pack groups units into chunks of at most Size words, cutting a unit longer than
// Size into word windows, and carries trailing units of up to Overlap words over.
func pack(texts []string, sep string, cfg ChunkConfig) []string {
	var units []unit
	for _, t := range texts {
		ws := strings.Fields(t)
		if len(ws) == 0 {
			continue
		}
		if len(ws) > cfg.Size {
			for _, w := range windows(ws, cfg) {
				units = append(units, unit{w, len(strings.Fields(w))})
			}
			continue
		}
		units = append(units, unit{strings.Join(ws, " "), len(ws)})
	}
	var out []string
	for a := 0; a < len(units); {
		b, n := a, 0
		for b < len(units) && (b == a || n+units[b].words <= cfg.Size) {
			n += units[b].words
			b++
		}
		parts := make([]string, 0, b-a)
		for _, u := range units[a:b] {
			parts = append(parts, u.text)
		}
		out = append(out, strings.Join(parts, sep))
		if b == len(units) {
			break
		}
		// The next chunk starts with the trailing units that fit in Overlap words, but
		// always moves forward by at least one unit.
		next, carried := b, 0
		for next-1 > a && carried+units[next-1].words <= cfg.Overlap {
			next--
			carried += units[next].words
		}
		a = next
	}
	return out
}

// sentences splits after . ! or ? (and any closing quotes or brackets) followed by
// whitespace, and at line breaks.
func sentences(text string) []string {
	var out []string
	start := 0
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		switch r {
		case '\n':
			out = append(out, text[start:i])
			start = i
		case '.', '!', '?':
			j := i
			for j < len(text) && strings.IndexByte(`.!?"')]`, text[j]) >= 0 {
				j++
			}
			if j == len(text) {
				continue
			}
			if r2, _ := utf8.DecodeRuneInString(text[j:]); unicode.IsSpace(r2) {
				out = append(out, text[start:j])
				start, i = j, j
			}
		}
	}
	return append(out, text[start:])
}

// paragraphs splits at blank lines.
func paragraphs(text string) []string {
	var out []string
	var cur []string
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" {
			if len(cur) > 0 {
				out = append(out, strings.Join(cur, "\n"))
				cur = nil
			}
			continue
		}
		cur = append(cur, line)
	}
	if len(cur) > 0 {
		out = append(out, strings.Join(cur, "\n"))
	}
	return out
}
