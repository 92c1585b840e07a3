package agents

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"unicode"
)

// The calculator evaluates the documented grammar exactly: + - * / with rational
// arithmetic (math/big), ^ or ** (integer exponents stay exact, others go through
// float64), parentheses, unary minus, sqrt sin cos log (base 10) ln abs, pi and e.
// There is no eval: the expression is parsed by this recursive-descent parser and
// bounded in length, depth and the size of its numbers.

// Calculator limits.
const (
	maxExprLen      = 4096
	maxExprDepth    = 64
	maxExactPower   = 100_000 // |n| of an exact integer power
	maxResultBits   = 1 << 16 // numerator/denominator bits of any intermediate value
	calcDecimals    = 12      // digits after the point of a non-terminating result
	maxExactDigits  = 60      // a terminating decimal longer than this is rounded
	maxNumberDigits = 400     // digits of one literal
)

// CalcError is a malformed or unevaluable expression.
type CalcError struct{ Msg string }

func (e *CalcError) Error() string { return e.Msg }

func calcErr(format string, a ...any) error { return &CalcError{Msg: fmt.Sprintf(format, a...)} }

// Calculate evaluates expr and returns its value as a decimal string: exact when the
// value has a terminating decimal expansion of reasonable length, else rounded half
// away from zero to 12 decimals with trailing zeros removed.
func Calculate(expr string) (string, error) {
	v, err := Evaluate(expr)
	if err != nil {
		return "", err
	}
	return FormatDecimal(v), nil
}

// Evaluate parses and evaluates expr to an exact rational.
func Evaluate(expr string) (*big.Rat, error) {
	if len(expr) > maxExprLen {
		return nil, calcErr("expression longer than %d characters", maxExprLen)
	}
	p := &calcParser{src: expr}
	p.next()
	v, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, calcErr("unexpected %q at position %d", p.tok.text, p.tok.pos+1)
	}
	return v, nil
}

// FormatDecimal prints v as described at Calculate.
func FormatDecimal(v *big.Rat) string {
	if new(big.Int).Quo(v.Num(), v.Denom()).CmpAbs(bigLimit) >= 0 {
		// Beyond 60 integer digits: 15 significant digits in scientific notation.
		return new(big.Float).SetPrec(200).SetRat(v).Text('e', 14)
	}
	if v.IsInt() {
		return v.Num().String()
	}
	if d, ok := terminatingDigits(v.Denom()); ok && d <= maxExactDigits {
		return trimZeros(v.FloatString(d))
	}
	s := roundHalfAway(v, calcDecimals)
	if s == "-0" {
		s = "0"
	}
	return s
}

var bigLimit = new(big.Int).Exp(big.NewInt(10), big.NewInt(60), nil)

// terminatingDigits reports the number of decimals of 1/den when den = 2^a 5^b.
func terminatingDigits(den *big.Int) (int, bool) {
	d := new(big.Int).Set(den)
	two, five := big.NewInt(2), big.NewInt(5)
	var a, b int
	m := new(big.Int)
	for {
		if q, r := new(big.Int).QuoRem(d, two, m); r.Sign() == 0 {
			d, a = q, a+1
			continue
		}
		break
	}
	for {
		if q, r := new(big.Int).QuoRem(d, five, m); r.Sign() == 0 {
			d, b = q, b+1
			continue
		}
		break
	}
	return max(a, b), d.Cmp(big.NewInt(1)) == 0
}

func roundHalfAway(v *big.Rat, decimals int) string {
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(decimals)), nil)
	n := new(big.Int).Mul(new(big.Int).Abs(v.Num()), scale)
	q, r := new(big.Int).QuoRem(n, v.Denom(), new(big.Int))
	if new(big.Int).Mul(r, big.NewInt(2)).Cmp(v.Denom()) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	s := q.String()
	if len(s) <= decimals {
		s = strings.Repeat("0", decimals-len(s)+1) + s
	}
	out := s[:len(s)-decimals] + "." + s[len(s)-decimals:]
	out = trimZeros(out)
	if v.Sign() < 0 && out != "0" {
		out = "-" + out
	}
	return out
}

func trimZeros(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

type calcTokKind int

const (
	tEOF calcTokKind = iota
	tNum
	tIdent
	tOp
	tLParen
	tRParen
	tComma
)

type calcTok struct {
	kind calcTokKind
	text string
	pos  int
}

type calcParser struct {
	src   string
	pos   int
	tok   calcTok
	err   error
	depth int
}

func (p *calcParser) next() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\n' || p.src[p.pos] == '\r') {
		p.pos++
	}
	start := p.pos
	if p.pos >= len(p.src) {
		p.tok = calcTok{kind: tEOF, text: "end of expression", pos: start}
		return
	}
	c := p.src[p.pos]
	switch {
	case c >= '0' && c <= '9' || c == '.':
		for p.pos < len(p.src) && (p.src[p.pos] >= '0' && p.src[p.pos] <= '9' || p.src[p.pos] == '.' || p.src[p.pos] == '_' || p.src[p.pos] == ',' && p.pos+3 < len(p.src) && isDigits(p.src[p.pos+1:p.pos+4])) {
			p.pos++
		}
		// Scientific notation: 1e6, 2.5E-3.
		if p.pos < len(p.src) && (p.src[p.pos] == 'e' || p.src[p.pos] == 'E') {
			j := p.pos + 1
			if j < len(p.src) && (p.src[j] == '+' || p.src[j] == '-') {
				j++
			}
			if j < len(p.src) && p.src[j] >= '0' && p.src[j] <= '9' {
				for j < len(p.src) && p.src[j] >= '0' && p.src[j] <= '9' {
					j++
				}
				p.pos = j
			}
		}
		p.tok = calcTok{kind: tNum, text: p.src[start:p.pos], pos: start}
	case c < 0x80 && (unicode.IsLetter(rune(c)) || c == '_'):
		for p.pos < len(p.src) && p.src[p.pos] < 0x80 && (unicode.IsLetter(rune(p.src[p.pos])) || unicode.IsDigit(rune(p.src[p.pos])) || p.src[p.pos] == '_') {
			p.pos++
		}
		p.tok = calcTok{kind: tIdent, text: p.src[start:p.pos], pos: start}
	case c == '*' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '*':
		p.pos += 2
		p.tok = calcTok{kind: tOp, text: "^", pos: start}
	case strings.IndexByte("+-*/^%", c) >= 0:
		p.pos++
		p.tok = calcTok{kind: tOp, text: string(c), pos: start}
	case c == '(':
		p.pos++
		p.tok = calcTok{kind: tLParen, text: "(", pos: start}
	case c == ')':
		p.pos++
		p.tok = calcTok{kind: tRParen, text: ")", pos: start}
	case c == ',':
		p.pos++
		p.tok = calcTok{kind: tComma, text: ",", pos: start}
	case c == '$':
		p.pos++
		p.next() // currency signs are ignored: "$400,000"
	default:
		r := []rune(p.src[p.pos:])[0]
		p.tok = calcTok{kind: tOp, text: string(r), pos: start}
		p.pos = len(p.src)
		p.err = calcErr("unexpected character %q at position %d", r, start+1)
	}
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func binPrec(op string) int {
	switch op {
	case "+", "-":
		return 1
	case "*", "/", "%":
		return 2
	case "^":
		return 4
	}
	return 0
}

// expr parses a binary expression whose operators bind tighter than minPrec
// (precedence climbing; ^ is right-associative and binds tighter than unary minus).
func (p *calcParser) expr(minPrec int) (*big.Rat, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxExprDepth {
		return nil, calcErr("expression nested deeper than %d", maxExprDepth)
	}
	lhs, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		if p.err != nil {
			return nil, p.err
		}
		if p.tok.kind != tOp {
			return lhs, nil
		}
		op := p.tok.text
		prec := binPrec(op)
		if prec == 0 || prec <= minPrec {
			return lhs, nil
		}
		p.next()
		next := prec
		if op == "^" {
			next = prec - 1 // right-associative
		}
		rhs, err := p.expr(next)
		if err != nil {
			return nil, err
		}
		if lhs, err = apply(op, lhs, rhs); err != nil {
			return nil, err
		}
	}
}

func (p *calcParser) unary() (*big.Rat, error) {
	if p.tok.kind == tOp && (p.tok.text == "-" || p.tok.text == "+") {
		neg := p.tok.text == "-"
		p.next()
		v, err := p.expr(2) // binds looser than ^: -2^2 = -4
		if err != nil {
			return nil, err
		}
		if neg {
			v = new(big.Rat).Neg(v)
		}
		return v, nil
	}
	return p.primary()
}

func (p *calcParser) primary() (*big.Rat, error) {
	if p.err != nil {
		return nil, p.err
	}
	t := p.tok
	switch t.kind {
	case tNum:
		p.next()
		return parseNumber(t)
	case tLParen:
		p.next()
		v, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRParen {
			return nil, calcErr("missing ) at position %d", p.tok.pos+1)
		}
		p.next()
		return v, nil
	case tIdent:
		p.next()
		name := strings.ToLower(t.text)
		switch name {
		case "pi":
			return floatRat(math.Pi)
		case "e":
			return floatRat(math.E)
		}
		fn, ok := calcFuncs[name]
		if !ok {
			return nil, calcErr("unknown name %q (functions: sqrt, sin, cos, log, ln, abs; constants: pi, e)", t.text)
		}
		if p.tok.kind != tLParen {
			return nil, calcErr("%s needs an argument in parentheses", name)
		}
		p.next()
		arg, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRParen {
			return nil, calcErr("missing ) after the argument of %s", name)
		}
		p.next()
		return fn(arg)
	case tEOF:
		return nil, calcErr("unexpected end of expression")
	}
	return nil, calcErr("unexpected %q at position %d", t.text, t.pos+1)
}

func parseNumber(t calcTok) (*big.Rat, error) {
	s := strings.NewReplacer("_", "", ",", "").Replace(t.text)
	if len(s) > maxNumberDigits {
		return nil, calcErr("number at position %d is too long", t.pos+1)
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		// big.Rat would expand any exponent: keep them in range first.
		exp := strings.TrimLeft(s[i+1:], "+-")
		if len(exp) > 4 || len(exp) == 4 && exp > "1000" {
			return nil, calcErr("number at position %d is out of range (exponent beyond 1000)", t.pos+1)
		}
	}
	v, ok := new(big.Rat).SetString(s)
	if !ok || strings.Count(s, ".") > 1 {
		return nil, calcErr("bad number %q at position %d", t.text, t.pos+1)
	}
	return bounded(v)
}

var calcFuncs = map[string]func(*big.Rat) (*big.Rat, error){
	"abs": func(x *big.Rat) (*big.Rat, error) { return new(big.Rat).Abs(x), nil },
	"sqrt": func(x *big.Rat) (*big.Rat, error) {
		if x.Sign() < 0 {
			return nil, calcErr("sqrt of a negative number")
		}
		if r, ok := exactSqrt(x); ok {
			return r, nil
		}
		f, _ := x.Float64()
		return floatRat(math.Sqrt(f))
	},
	"sin": floatFn(math.Sin, nil),
	"cos": floatFn(math.Cos, nil),
	"ln": floatFn(math.Log, func(f float64) error {
		if f <= 0 {
			return calcErr("ln of a number that is not positive")
		}
		return nil
	}),
	"log": floatFn(math.Log10, func(f float64) error {
		if f <= 0 {
			return calcErr("log of a number that is not positive")
		}
		return nil
	}),
}

func floatFn(f func(float64) float64, check func(float64) error) func(*big.Rat) (*big.Rat, error) {
	return func(x *big.Rat) (*big.Rat, error) {
		v, _ := x.Float64()
		if check != nil {
			if err := check(v); err != nil {
				return nil, err
			}
		}
		return floatRat(f(v))
	}
}

func exactSqrt(x *big.Rat) (*big.Rat, bool) {
	n, d := new(big.Int).Sqrt(x.Num()), new(big.Int).Sqrt(x.Denom())
	if new(big.Int).Mul(n, n).Cmp(x.Num()) != 0 || new(big.Int).Mul(d, d).Cmp(x.Denom()) != 0 {
		return nil, false
	}
	return new(big.Rat).SetFrac(n, d), true
}

var errOverflow = errors.New("result too large")

func floatRat(f float64) (*big.Rat, error) {
	if math.IsInf(f, 0) {
		return nil, calcErr("%v", errOverflow)
	}
	if math.IsNaN(f) {
		return nil, calcErr("result is not a number")
	}
	// Keep 15 significant digits: a float64's binary expansion is not the value meant.
	r, _ := new(big.Rat).SetString(fmt.Sprintf("%.15g", f))
	if r == nil {
		return nil, calcErr("result is not a finite number")
	}
	return r, nil
}

func bounded(v *big.Rat) (*big.Rat, error) {
	if v.Num().BitLen() > maxResultBits || v.Denom().BitLen() > maxResultBits {
		return nil, calcErr("%v", errOverflow)
	}
	return v, nil
}

func apply(op string, a, b *big.Rat) (*big.Rat, error) {
	switch op {
	case "+":
		return bounded(new(big.Rat).Add(a, b))
	case "-":
		return bounded(new(big.Rat).Sub(a, b))
	case "*":
		return bounded(new(big.Rat).Mul(a, b))
	case "/":
		if b.Sign() == 0 {
			return nil, calcErr("division by zero")
		}
		return bounded(new(big.Rat).Quo(a, b))
	case "%":
		if b.Sign() == 0 {
			return nil, calcErr("modulo by zero")
		}
		q := new(big.Rat).Quo(a, b)
		fl := new(big.Int).Quo(q.Num(), q.Denom()) // truncated toward zero
		return bounded(new(big.Rat).Sub(a, new(big.Rat).Mul(b, new(big.Rat).SetInt(fl))))
	case "^":
		return power(a, b)
	}
	return nil, calcErr("unknown operator %q", op)
}

func power(a, b *big.Rat) (*big.Rat, error) {
	if b.IsInt() && b.Num().IsInt64() && b.Num().Int64() >= -maxExactPower && b.Num().Int64() <= maxExactPower {
		n := b.Num().Int64()
		if a.Sign() == 0 && n < 0 {
			return nil, calcErr("division by zero")
		}
		// Refuse before computing what cannot fit.
		bits := max(a.Num().BitLen(), a.Denom().BitLen())
		if int64(bits)*abs64(n) > maxResultBits {
			return nil, calcErr("%v", errOverflow)
		}
		num := new(big.Int).Exp(a.Num(), big.NewInt(abs64(n)), nil)
		den := new(big.Int).Exp(a.Denom(), big.NewInt(abs64(n)), nil)
		if n < 0 {
			num, den = den, num
		}
		if den.Sign() < 0 {
			num.Neg(num)
			den.Neg(den)
		}
		return bounded(new(big.Rat).SetFrac(num, den))
	}
	x, _ := a.Float64()
	y, _ := b.Float64()
	if x < 0 {
		return nil, calcErr("a negative number to a fractional power")
	}
	return floatRat(math.Pow(x, y))
}

func abs64(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
