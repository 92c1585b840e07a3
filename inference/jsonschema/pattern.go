package jsonschema

import (
	"fmt"
	"strconv"

	"github.com/aria-node/aria/inference/grammar"
)

// compilePattern turns a regular expression (ECMA-262 subset: literals, ., classes,
// \d \w \s and their negations, groups, |, * + ? {m,n}, ^ and $ at the ends) into a
// grammar over a JSON string's contents (escaped as JSON needs). A pattern without ^
// or $ may have any text on that side, as JSON Schema's search semantics say.
func compilePattern(b *grammar.Builder, pat string, anyChar grammar.Expr) (grammar.Expr, error) {
	p := &patParser{b: b, s: pat, anyChar: anyChar}
	anchoredStart := len(pat) > 0 && pat[0] == '^'
	if anchoredStart {
		p.i = 1
	}
	e, err := p.alternation(0)
	if err != nil {
		return grammar.Expr{}, err
	}
	anchoredEnd := false
	if p.i < len(p.s) && p.s[p.i] == '$' && p.i == len(p.s)-1 {
		anchoredEnd = true
		p.i++
	}
	if p.i != len(p.s) {
		return grammar.Expr{}, fmt.Errorf("unsupported syntax at offset %d of %q", p.i, pat)
	}
	parts := []grammar.Expr{}
	if !anchoredStart {
		parts = append(parts, b.Star("any", anyChar))
	}
	parts = append(parts, e)
	if !anchoredEnd {
		parts = append(parts, b.Star("any", anyChar))
	}
	return grammar.Seq(parts...), nil
}

type patParser struct {
	b       *grammar.Builder
	s       string
	i       int
	anyChar grammar.Expr
}

func (p *patParser) alternation(depth int) (grammar.Expr, error) {
	if depth > 32 {
		return grammar.Expr{}, fmt.Errorf("pattern nested too deeply")
	}
	var alts []grammar.Expr
	for {
		seq, err := p.sequence(depth)
		if err != nil {
			return grammar.Expr{}, err
		}
		alts = append(alts, seq)
		if p.i < len(p.s) && p.s[p.i] == '|' {
			p.i++
			continue
		}
		break
	}
	if len(alts) == 1 {
		return alts[0], nil
	}
	return p.b.Alt("alt", alts...), nil
}

func (p *patParser) sequence(depth int) (grammar.Expr, error) {
	var items []grammar.Expr
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '|' || c == ')' || (c == '$' && p.i == len(p.s)-1) {
			break
		}
		atom, err := p.atom(depth)
		if err != nil {
			return grammar.Expr{}, err
		}
		atom, err = p.quantifier(atom)
		if err != nil {
			return grammar.Expr{}, err
		}
		items = append(items, atom)
	}
	return grammar.Seq(items...), nil
}

func (p *patParser) atom(depth int) (grammar.Expr, error) {
	c := p.s[p.i]
	switch c {
	case '(':
		p.i++
		if p.i+1 < len(p.s) && p.s[p.i] == '?' {
			if p.s[p.i+1] != ':' {
				return grammar.Expr{}, fmt.Errorf("lookaround and named groups are not supported (offset %d)", p.i)
			}
			p.i += 2
		}
		e, err := p.alternation(depth + 1)
		if err != nil {
			return grammar.Expr{}, err
		}
		if p.i >= len(p.s) || p.s[p.i] != ')' {
			return grammar.Expr{}, fmt.Errorf("missing ) in pattern")
		}
		p.i++
		return p.b.Rule("group", e), nil
	case '[':
		return p.class()
	case '.':
		p.i++
		return p.anyChar, nil
	case '\\':
		set, neg, lit, err := p.escape()
		if err != nil {
			return grammar.Expr{}, err
		}
		if set != nil {
			return p.fromSet(set, neg), nil
		}
		return jsonByte(lit)
	case '*', '+', '?', '{':
		return grammar.Expr{}, fmt.Errorf("quantifier %q with nothing to repeat at offset %d", c, p.i)
	case '^', '$':
		return grammar.Expr{}, fmt.Errorf("anchors are supported only at the ends of the pattern")
	}
	if c >= 0x80 {
		return grammar.Expr{}, fmt.Errorf("non-ASCII characters in patterns are not supported")
	}
	p.i++
	return jsonByte(c)
}

// jsonByte matches the ASCII character c inside a JSON string.
func jsonByte(c byte) (grammar.Expr, error) {
	switch c {
	case '"':
		return grammar.Lit(`\"`), nil
	case '\\':
		return grammar.Lit(`\\`), nil
	case '\n':
		return grammar.Lit(`\n`), nil
	case '\t':
		return grammar.Lit(`\t`), nil
	case '\r':
		return grammar.Lit(`\r`), nil
	}
	if c < 0x20 || c >= 0x80 {
		return grammar.Expr{}, fmt.Errorf("character %#x in a pattern is not supported", c)
	}
	return grammar.Byte(c), nil
}

// escape reads \x: a class (set, possibly negated) or a literal byte.
func (p *patParser) escape() (set *[128]bool, neg bool, lit byte, err error) {
	if p.i+1 >= len(p.s) {
		return nil, false, 0, fmt.Errorf("pattern ends with \\")
	}
	c := p.s[p.i+1]
	p.i += 2
	mk := func(f func(byte) bool) *[128]bool {
		var s [128]bool
		for b := range 128 {
			s[b] = f(byte(b))
		}
		return &s
	}
	isDigit := func(b byte) bool { return b >= '0' && b <= '9' }
	isWord := func(b byte) bool { return isDigit(b) || b == '_' || (b|0x20 >= 'a' && b|0x20 <= 'z') }
	isSpace := func(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f' || b == '\v' }
	switch c {
	case 'd', 'D':
		return mk(isDigit), c == 'D', 0, nil
	case 'w', 'W':
		return mk(isWord), c == 'W', 0, nil
	case 's', 'S':
		return mk(isSpace), c == 'S', 0, nil
	case 'n':
		return nil, false, '\n', nil
	case 't':
		return nil, false, '\t', nil
	case 'r':
		return nil, false, '\r', nil
	}
	if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
		return nil, false, 0, fmt.Errorf("escape \\%c is not supported", c)
	}
	return nil, false, c, nil
}

func (p *patParser) class() (grammar.Expr, error) {
	p.i++ // [
	neg := false
	if p.i < len(p.s) && p.s[p.i] == '^' {
		neg = true
		p.i++
	}
	var set [128]bool
	first := true
	for {
		if p.i >= len(p.s) {
			return grammar.Expr{}, fmt.Errorf("missing ] in pattern")
		}
		c := p.s[p.i]
		if c == ']' && !first {
			p.i++
			break
		}
		first = false
		var lo byte
		if c == '\\' {
			sub, subNeg, lit, err := p.escape()
			if err != nil {
				return grammar.Expr{}, err
			}
			if sub != nil {
				if subNeg {
					return grammar.Expr{}, fmt.Errorf("negated escapes inside a class are not supported")
				}
				for b, ok := range sub {
					set[b] = set[b] || ok
				}
				continue
			}
			lo = lit
		} else {
			if c >= 0x80 {
				return grammar.Expr{}, fmt.Errorf("non-ASCII characters in patterns are not supported")
			}
			lo = c
			p.i++
		}
		hi := lo
		if p.i+1 < len(p.s) && p.s[p.i] == '-' && p.s[p.i+1] != ']' {
			p.i++
			h := p.s[p.i]
			if h == '\\' {
				_, _, lit, err := p.escape()
				if err != nil {
					return grammar.Expr{}, err
				}
				h = lit
			} else {
				p.i++
			}
			if h >= 0x80 || h < lo {
				return grammar.Expr{}, fmt.Errorf("bad range in class")
			}
			hi = h
		}
		for b := int(lo); b <= int(hi); b++ {
			set[b] = true
		}
	}
	return p.fromSet(&set, neg), nil
}

// fromSet matches one JSON string character from an ASCII set (negated: any
// character, non-ASCII included, outside it).
func (p *patParser) fromSet(set *[128]bool, neg bool) grammar.Expr {
	var plain []grammar.Range
	var alts []grammar.Expr
	for b := 0; b < 128; b++ {
		in := set[b] != neg
		if !in || b < 0x20 && b != '\n' && b != '\t' && b != '\r' {
			continue
		}
		if b == '"' || b == '\\' || b < 0x20 {
			e, _ := jsonByte(byte(b))
			alts = append(alts, e)
			continue
		}
		plain = append(plain, grammar.Range{Lo: byte(b), Hi: byte(b)})
	}
	if len(plain) > 0 {
		alts = append(alts, grammar.Chars(plain...))
	}
	if neg {
		alts = append(alts, utf8Multi()...)
	}
	if len(alts) == 0 {
		return p.b.Alt("never", grammar.Seq(grammar.Chars())) // an empty set: matches nothing
	}
	return p.b.Alt("class", alts...)
}

func (p *patParser) quantifier(atom grammar.Expr) (grammar.Expr, error) {
	if p.i >= len(p.s) {
		return atom, nil
	}
	lo, hi := 1, 1
	switch p.s[p.i] {
	case '*':
		lo, hi = 0, -1
		p.i++
	case '+':
		lo, hi = 1, -1
		p.i++
	case '?':
		lo, hi = 0, 1
		p.i++
	case '{':
		end := p.i + 1
		for end < len(p.s) && p.s[end] != '}' {
			end++
		}
		if end >= len(p.s) {
			return grammar.Expr{}, fmt.Errorf("missing } in pattern")
		}
		body := p.s[p.i+1 : end]
		var err error
		if k := indexByte(body, ','); k < 0 {
			lo, err = strconv.Atoi(body)
			hi = lo
		} else {
			lo, err = strconv.Atoi(body[:k])
			if err == nil {
				if body[k+1:] == "" {
					hi = -1
				} else {
					hi, err = strconv.Atoi(body[k+1:])
				}
			}
		}
		if err != nil || lo < 0 || lo > MaxLength || hi > MaxLength || (hi >= 0 && hi < lo) {
			return grammar.Expr{}, fmt.Errorf("bad repetition {%s}", body)
		}
		p.i = end + 1
	default:
		return atom, nil
	}
	if p.i < len(p.s) && p.s[p.i] == '?' { // lazy: same language
		p.i++
	}
	return p.b.Repeat("rep", atom, lo, hi), nil
}

func indexByte(s string, c byte) int {
	for i := range len(s) {
		if s[i] == c {
			return i
		}
	}
	return -1
}
