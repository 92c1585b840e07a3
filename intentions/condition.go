package intentions

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of the condition language; both bound the parser's work and recursion.
const (
	MaxConditionBytes = 1000
	MaxConditionDepth = 32
)

// Condition is a parsed condition trigger. It is evaluated, never executed:
// a tree of comparisons joined by and, or and not.
type Condition struct {
	root condNode
}

// ParseCondition parses a condition expression; see the package doc for the language.
func ParseCondition(src string) (*Condition, error) {
	if len(src) > MaxConditionBytes {
		return nil, fmt.Errorf("condition is %d bytes, the limit is %d", len(src), MaxConditionBytes)
	}
	return parseCondition(src)
}

// parseCondition is ParseCondition without the length limit, which is a policy on what
// clients store: a canonical String may be longer than its source.
func parseCondition(src string) (*Condition, error) {
	if !utf8.ValidString(src) {
		return nil, fmt.Errorf("condition is not valid UTF-8")
	}
	toks, err := lexCondition(src)
	if err != nil {
		return nil, err
	}
	p := &condParser{toks: toks}
	if p.peek().kind == tokEOF {
		return nil, fmt.Errorf("condition is empty")
	}
	root, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, fmt.Errorf("unexpected %s at offset %d", t.describe(), t.pos)
	}
	return &Condition{root: root}, nil
}

// Eval reports whether the condition holds. Identifiers are looked up in state first,
// then in ctx; an identifier in neither is absent.
func (c *Condition) Eval(state map[string]float64, ctx map[string]string) bool {
	return c.root.eval(env{state: state, ctx: ctx})
}

// String is the canonical form: parsing it gives the same condition.
func (c *Condition) String() string {
	var b strings.Builder
	c.root.write(&b)
	return b.String()
}

// ---- lexer ----

type tokKind int

const (
	tokEOF tokKind = iota
	tokWord
	tokString // quoted
	tokLParen
	tokRParen
	tokAnd
	tokOr
	tokNot
	tokOp // comparison operator
)

type token struct {
	kind tokKind
	text string // word text, unquoted string, or canonical operator
	pos  int
}

func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of condition"
	case tokString:
		return fmt.Sprintf("string %q", t.text)
	case tokWord:
		return fmt.Sprintf("word %q", t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

// isWordRune: identifiers use letters, digits, '_' and '.'; literal words also '-' and '+'
// so that -5 and 1e+3 are single words.
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '.' || r == '-' || r == '+'
}

func lexCondition(src string) ([]token, error) {
	var toks []token
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRuneInString(src[i:])
		two := ""
		if i+1 < len(src) {
			two = src[i : i+2]
		}
		switch {
		case unicode.IsSpace(r):
			i += size
		case r == '(':
			toks = append(toks, token{tokLParen, "(", i})
			i++
		case r == ')':
			toks = append(toks, token{tokRParen, ")", i})
			i++
		case two == "&&":
			toks = append(toks, token{tokAnd, "&&", i})
			i += 2
		case two == "||":
			toks = append(toks, token{tokOr, "||", i})
			i += 2
		case two == "==" || two == "!=" || two == "<=" || two == ">=":
			toks = append(toks, token{tokOp, two, i})
			i += 2
		case r == '!':
			toks = append(toks, token{tokNot, "!", i})
			i++
		case r == '=':
			toks = append(toks, token{tokOp, "==", i})
			i++
		case r == '<' || r == '>':
			toks = append(toks, token{tokOp, string(r), i})
			i++
		case r == '"' || r == '\'':
			s, n, err := lexQuoted(src[i:], byte(r))
			if err != nil {
				return nil, fmt.Errorf("%w at offset %d", err, i)
			}
			toks = append(toks, token{tokString, s, i})
			i += n
		case isWordRune(r):
			start := i
			for i < len(src) {
				r, size := utf8.DecodeRuneInString(src[i:])
				if !isWordRune(r) {
					break
				}
				i += size
			}
			w := src[start:i]
			switch strings.ToLower(w) {
			case "and":
				toks = append(toks, token{tokAnd, "&&", start})
			case "or":
				toks = append(toks, token{tokOr, "||", start})
			case "not":
				toks = append(toks, token{tokNot, "!", start})
			default:
				toks = append(toks, token{tokWord, w, start})
			}
		default:
			return nil, fmt.Errorf("unexpected character %q at offset %d", r, i)
		}
	}
	return append(toks, token{kind: tokEOF, pos: len(src)}), nil
}

// lexQuoted reads a string quoted by q; a backslash takes the next byte literally.
// It returns the content and the bytes consumed.
func lexQuoted(s string, q byte) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 >= len(s) {
				return "", 0, fmt.Errorf("unterminated string")
			}
			i++
			b.WriteByte(s[i])
		case q:
			return b.String(), i + 1, nil
		default:
			b.WriteByte(s[i])
		}
	}
	return "", 0, fmt.Errorf("unterminated string")
}

// ---- parser ----

type condParser struct {
	toks  []token
	i     int
	depth int
}

func (p *condParser) peek() token { return p.toks[p.i] }
func (p *condParser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF { // stay on EOF however often a caller asks
		p.i++
	}
	return t
}

func (p *condParser) enter() error {
	p.depth++
	if p.depth > MaxConditionDepth {
		return fmt.Errorf("condition nests deeper than %d at offset %d", MaxConditionDepth, p.peek().pos)
	}
	return nil
}

// or := and { "||" and }
func (p *condParser) parseOr() (condNode, error) {
	first, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tokOr {
		return first, nil
	}
	terms := appendFlat[orNode](nil, first)
	for p.peek().kind == tokOr {
		p.next()
		t, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		terms = appendFlat[orNode](terms, t)
	}
	return orNode(terms), nil
}

// and := unary { "&&" unary }
func (p *condParser) parseAnd() (condNode, error) {
	first, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tokAnd {
		return first, nil
	}
	terms := appendFlat[andNode](nil, first)
	for p.peek().kind == tokAnd {
		p.next()
		t, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		terms = appendFlat[andNode](terms, t)
	}
	return andNode(terms), nil
}

// unary := "!" unary | "(" or ")" | comparison
func (p *condParser) parseUnary() (condNode, error) {
	switch t := p.peek(); t.kind {
	case tokNot:
		p.next()
		if err := p.enter(); err != nil {
			return nil, err
		}
		inner, err := p.parseUnary()
		p.depth--
		if err != nil {
			return nil, err
		}
		return notNode{inner}, nil
	case tokLParen:
		p.next()
		if err := p.enter(); err != nil {
			return nil, err
		}
		inner, err := p.parseOr()
		p.depth--
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tokRParen {
			return nil, fmt.Errorf("expected ) at offset %d, found %s", c.pos, c.describe())
		}
		return inner, nil
	}
	return p.parseComparison()
}

// appendFlat appends t to terms, splicing in its terms when it is the same operator
// ("(a || b) || c" is "a || b || c"), so the tree, and so String, has one form.
func appendFlat[N andNode | orNode](terms []condNode, t condNode) []condNode {
	if same, ok := t.(N); ok {
		return append(terms, same...)
	}
	return append(terms, t)
}

// comparison := ident [ op literal ]
func (p *condParser) parseComparison() (condNode, error) {
	t := p.next()
	if t.kind != tokWord || !isIdent(t.text) {
		return nil, fmt.Errorf("expected an identifier at offset %d, found %s", t.pos, t.describe())
	}
	if p.peek().kind != tokOp {
		return present{ident: t.text}, nil
	}
	op := p.next()
	lit := p.next()
	switch lit.kind {
	case tokWord, tokString:
	default:
		return nil, fmt.Errorf("expected a value after %s at offset %d, found %s", op.text, lit.pos, lit.describe())
	}
	return comparison{ident: t.text, op: op.text, lit: newLiteral(lit.text, lit.kind == tokString)}, nil
}

// isIdent: a letter or '_' first, then letters, digits, '_' and '.'.
func isIdent(s string) bool {
	for i, r := range s {
		switch {
		case unicode.IsLetter(r) || r == '_':
		case i > 0 && (unicode.IsDigit(r) || r == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// ---- tree and evaluation ----

type env struct {
	state map[string]float64
	ctx   map[string]string
}

// value is what an identifier names: a number from state, a string from ctx, or nothing.
type value struct {
	present bool
	isNum   bool
	num     float64
	text    string
}

func (e env) lookup(ident string) value {
	if v, ok := e.state[ident]; ok {
		return value{present: true, isNum: true, num: v, text: strconv.FormatFloat(v, 'g', -1, 64)}
	}
	if s, ok := e.ctx[ident]; ok {
		n, isNum := parseNumber(s)
		return value{present: true, isNum: isNum, num: n, text: s}
	}
	return value{}
}

// truthy: a non-zero number, or a string other than "", "0", "false", "no", "off".
func (v value) truthy() bool {
	if !v.present {
		return false
	}
	if v.isNum {
		return v.num != 0 && !math.IsNaN(v.num)
	}
	switch strings.ToLower(strings.TrimSpace(v.text)) {
	case "", "0", "false", "no", "off":
		return false
	}
	return true
}

// parseNumber accepts finite decimal numbers only: no NaN, Inf, hex or underscores.
func parseNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, "xXpP_") {
		return 0, false
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, false
	}
	return n, true
}

type literal struct {
	text   string
	quoted bool
	isBool bool
	b      bool
	isNum  bool
	num    float64
}

func newLiteral(text string, quoted bool) literal {
	l := literal{text: text, quoted: quoted}
	if !quoted {
		switch strings.ToLower(text) {
		case "true":
			l.isBool, l.b = true, true
			return l
		case "false":
			l.isBool = true
			return l
		}
	}
	l.num, l.isNum = parseNumber(text)
	return l
}

type condNode interface {
	eval(env) bool
	write(*strings.Builder)
}

type (
	andNode    []condNode
	orNode     []condNode
	notNode    struct{ inner condNode }
	present    struct{ ident string }
	comparison struct {
		ident string
		op    string // canonical: == != < <= > >=
		lit   literal
	}
)

func (n andNode) eval(e env) bool {
	for _, t := range n {
		if !t.eval(e) {
			return false
		}
	}
	return true
}

func (n orNode) eval(e env) bool {
	for _, t := range n {
		if t.eval(e) {
			return true
		}
	}
	return false
}

func (n notNode) eval(e env) bool { return !n.inner.eval(e) }

func (n present) eval(e env) bool { return e.lookup(n.ident).truthy() }

func (n comparison) eval(e env) bool {
	v := e.lookup(n.ident)
	if !v.present {
		return n.op == "!="
	}
	l := n.lit
	switch {
	case l.isBool:
		switch n.op {
		case "==":
			return v.truthy() == l.b
		case "!=":
			return v.truthy() != l.b
		}
		return false
	case v.isNum && l.isNum:
		a, b := v.num, l.num
		switch n.op {
		case "==":
			return a == b
		case "!=":
			return a != b
		case "<":
			return a < b
		case "<=":
			return a <= b
		case ">":
			return a > b
		case ">=":
			return a >= b
		}
	}
	switch n.op {
	case "==":
		return strings.EqualFold(v.text, l.text)
	case "!=":
		return !strings.EqualFold(v.text, l.text)
	}
	return false // ordering needs two numbers
}

// write prints only the parentheses the grammar needs: an or inside an and, and an
// and/or under a not. So the printed form nests no deeper than its source and reparses
// to the same tree.
func writeJoined(b *strings.Builder, terms []condNode, sep string, parens func(condNode) bool) {
	for i, t := range terms {
		if i > 0 {
			b.WriteString(sep)
		}
		writeMaybeParens(b, t, parens(t))
	}
}

func writeMaybeParens(b *strings.Builder, n condNode, parens bool) {
	if parens {
		b.WriteByte('(')
	}
	n.write(b)
	if parens {
		b.WriteByte(')')
	}
}

func isOr(n condNode) bool { _, ok := n.(orNode); return ok }

func isJunction(n condNode) bool {
	switch n.(type) {
	case andNode, orNode:
		return true
	}
	return false
}

func (n andNode) write(b *strings.Builder) { writeJoined(b, n, " && ", isOr) }
func (n orNode) write(b *strings.Builder) {
	writeJoined(b, n, " || ", func(condNode) bool { return false }) // && binds tighter; or is flattened
}

func (n notNode) write(b *strings.Builder) {
	b.WriteByte('!')
	writeMaybeParens(b, n.inner, isJunction(n.inner))
}

func (n present) write(b *strings.Builder) { b.WriteString(n.ident) }

func (n comparison) write(b *strings.Builder) {
	b.WriteString(n.ident)
	b.WriteByte(' ')
	b.WriteString(n.op)
	b.WriteByte(' ')
	n.lit.write(b)
}

func (l literal) write(b *strings.Builder) {
	if l.isBool {
		b.WriteString(strconv.FormatBool(l.b))
		return
	}
	if !l.quoted && bareWordSafe(l.text) {
		b.WriteString(l.text)
		return
	}
	b.WriteByte('"')
	for i := 0; i < len(l.text); i++ {
		if c := l.text[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(l.text[i])
	}
	b.WriteByte('"')
}

// bareWordSafe reports whether s lexes back as one word token that is not a keyword.
func bareWordSafe(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !isWordRune(r) {
			return false
		}
	}
	switch strings.ToLower(s) {
	case "and", "or", "not", "true", "false":
		return false
	}
	return true
}
