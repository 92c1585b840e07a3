package vocab

import (
	"unicode"
	"unicode/utf8"
)

// charClass is the part of a code point's Unicode properties the GPT-2
// pre-tokenizer regex looks at.
type charClass uint8

const (
	// classNone stands for "past the end of the text": llama.cpp returns
	// empty flags there, which matches none of the regex alternatives.
	classNone charClass = iota
	classLetter
	classNumber
	classSpace
	classOther // anything else, including unassigned code points
)

func classify(r rune) charClass {
	switch {
	case unicode.IsLetter(r):
		return classLetter
	case unicode.IsNumber(r):
		return classNumber
	case unicode.IsSpace(r):
		// Go's IsSpace is the Unicode White_Space property, the same set
		// llama.cpp uses for \s.
		return classSpace
	default:
		return classOther
	}
}

type unit struct {
	off int // byte offset in the text
	r   rune
	cls charClass
}

// pretokenize splits text the way the GPT-2 pre-tokenizer regex
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// does, and calls emit with each piece (a substring of text) in order. It
// follows llama.cpp's hand-written matcher (unicode_regex_split_custom_gpt2)
// step by step, so pieces agree with what llama.cpp feeds to BPE.
//
// llama.cpp replaces each invalid UTF-8 byte with U+FFFD before splitting,
// which loses the byte. Here an invalid byte is classified like U+FFFD (a
// symbol) but stays in the piece, so encoding stays lossless for any input.
func pretokenize(text string, emit func(piece string)) {
	units := make([]unit, 0, len(text))
	for off := 0; off < len(text); {
		r, n := utf8.DecodeRuneInString(text[off:])
		units = append(units, unit{off: off, r: r, cls: classify(r)})
		off += n
	}
	n := len(units)
	classAt := func(i int) charClass {
		if i < n {
			return units[i].cls
		}
		return classNone
	}
	runeAt := func(i int) rune {
		if i < n {
			return units[i].r
		}
		return -1
	}
	prev := 0
	cut := func(end int) {
		if end > prev {
			start, stop := units[prev].off, len(text)
			if end < n {
				stop = units[end].off
			}
			emit(text[start:stop])
		}
		prev = end
	}

	for pos := 0; pos < n; {
		c := units[pos].r

		// 's|'t|'re|'ve|'m|'ll|'d (ASCII, case-sensitive, as in GPT-2)
		if c == '\'' && pos+1 < n {
			switch next := runeAt(pos + 1); next {
			case 's', 't', 'm', 'd':
				pos += 2
				cut(pos)
				continue
			case 'r', 'v', 'l':
				nn := runeAt(pos + 2)
				if next == 'r' && nn == 'e' || next == 'v' && nn == 'e' || next == 'l' && nn == 'l' {
					pos += 3
					cut(pos)
					continue
				}
			}
		}

		// " ?X+" for X in letters, numbers, other: a single leading space
		// joins the run that follows it.
		cls := units[pos].cls
		if c == ' ' {
			cls = classAt(pos + 1)
		}
		if cls == classLetter || cls == classNumber || cls == classOther {
			if c == ' ' {
				pos++
			}
			for classAt(pos) == cls {
				pos++
			}
			cut(pos)
			continue
		}

		ws := 0
		for classAt(pos+ws) == classSpace {
			ws++
		}
		// \s+(?!\S): a whitespace run followed by text leaves its last
		// character to start the next piece (usually " word").
		if ws > 1 && pos+ws < n {
			pos += ws - 1
			cut(pos)
			continue
		}
		// \s+
		if ws > 0 {
			pos += ws
			cut(pos)
			continue
		}
		// Unreachable with the classes above; kept like llama.cpp so the
		// loop always advances.
		pos++
		cut(pos)
	}
}
