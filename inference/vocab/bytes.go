package vocab

// GPT-2's byte-level BPE does not work on raw bytes: every byte is first
// mapped to a printable Unicode code point so that token strings never
// contain control characters or spaces (a space becomes 'Ġ', U+0120, and a
// newline becomes 'Ċ', U+010A). Printable Latin-1 bytes map to themselves;
// the remaining 68 bytes map, in byte order, to U+0100, U+0101, ....
// llama.cpp's unicode_byte_to_utf8_map builds exactly this table, and merges
// and tokens in a GGUF file are stored in this form.

var (
	byteToRune [256]rune
	// runeToByte is indexed by code point; the largest mapped code point is
	// U+0143 (256 + 68 - 1). Entries hold byte+1 so that 0 means "unmapped".
	runeToByte [0x144]uint16
)

func init() {
	printable := func(b int) bool {
		return b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF
	}
	n := 0
	for b := range 256 {
		r := rune(b)
		if !printable(b) {
			r = rune(256 + n)
			n++
		}
		byteToRune[b] = r
		runeToByte[r] = uint16(b) + 1
	}
}

// ByteToUnicode returns the code point GPT-2's byte-level BPE uses to
// represent byte b inside token strings.
func ByteToUnicode(b byte) rune { return byteToRune[b] }

// UnicodeToByte inverts ByteToUnicode. It reports false for code points that
// do not represent a byte.
func UnicodeToByte(r rune) (byte, bool) {
	if r < 0 || int(r) >= len(runeToByte) || runeToByte[r] == 0 {
		return 0, false
	}
	return byte(runeToByte[r] - 1), true
}

// encodeBytes maps raw bytes to their token-string form.
func encodeBytes(raw string) string {
	buf := make([]rune, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		buf = append(buf, byteToRune[raw[i]])
	}
	return string(buf)
}

// decodeToken maps a token string back to raw bytes. Code points outside the
// byte table are kept as their UTF-8 encoding so that a hand-made vocabulary
// with unusual tokens still decodes to something readable.
func decodeToken(tok string) string {
	buf := make([]byte, 0, len(tok))
	for _, r := range tok {
		if b, ok := UnicodeToByte(r); ok {
			buf = append(buf, b)
		} else {
			buf = append(buf, string(r)...)
		}
	}
	return string(buf)
}
