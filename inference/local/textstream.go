package local

import (
	"bytes"
	"unicode/utf8"
)

// textStream turns token bytes into output text. It holds back bytes that might begin a
// stop string (stop strings are matched across token boundaries and never emitted) and
// an incomplete trailing UTF-8 sequence, so every emitted piece is valid UTF-8 and the
// concatenation of streamed pieces equals the non-streamed text.
type textStream struct {
	stops   [][]byte
	pending []byte
}

func newTextStream(stops []string) *textStream {
	t := &textStream{}
	for _, s := range stops {
		if s != "" {
			t.stops = append(t.stops, []byte(s))
		}
	}
	return t
}

// push adds a token's bytes. It returns the text that is now safe to emit and whether a
// stop string was found (the text before it is returned, the rest discarded).
func (t *textStream) push(piece []byte) (string, bool) {
	t.pending = append(t.pending, piece...)
	if len(t.stops) > 0 {
		first := -1
		for _, s := range t.stops {
			if i := bytes.Index(t.pending, s); i >= 0 && (first < 0 || i < first) {
				first = i
			}
		}
		if first >= 0 {
			out := sanitize(t.pending[:first])
			t.pending = t.pending[:0]
			return out, true
		}
	}
	n := len(t.pending) - t.heldStop()
	n -= incompleteTail(t.pending[:n])
	out := sanitize(t.pending[:n])
	t.pending = append(t.pending[:0], t.pending[n:]...)
	return out, false
}

// flush returns whatever is still held back (at the end of a generation).
func (t *textStream) flush() string {
	out := sanitize(t.pending)
	t.pending = t.pending[:0]
	return out
}

// heldStop is the length of the longest suffix of pending that is a proper prefix of
// some stop string.
func (t *textStream) heldStop() int {
	best := 0
	for _, s := range t.stops {
		for k := min(len(s)-1, len(t.pending)); k > best; k-- {
			if bytes.HasSuffix(t.pending, s[:k]) {
				best = k
				break
			}
		}
	}
	return best
}

// incompleteTail is the length of a trailing UTF-8 sequence that is valid so far but
// not complete (at most 3 bytes).
func incompleteTail(b []byte) int {
	for k := 1; k <= 3 && k <= len(b); k++ {
		c := b[len(b)-k]
		if c < 0x80 {
			return 0
		}
		if c >= 0xC0 { // a lead byte
			if !utf8.FullRune(b[len(b)-k:]) {
				return k
			}
			return 0
		}
	}
	return 0
}

// sanitize converts bytes to a string, replacing each invalid byte with U+FFFD. Per
// byte (not per run) so the result does not depend on where the stream was split.
func sanitize(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb []byte
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			sb = append(sb, "\uFFFD"...)
		} else {
			sb = append(sb, b[:size]...)
		}
		b = b[size:]
	}
	return string(sb)
}
