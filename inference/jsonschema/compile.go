// Package jsonschema compiles the JSON Schema subset OpenAI's strict structured outputs
// allow into a grammar.Grammar, and validates instances against the same subset.
// Anything outside the subset is an *Error naming where in the schema it is.
package jsonschema

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/aria-node/aria/inference/grammar"
)

// Limits on what a schema may ask for.
const (
	MaxLength    = 4096 // largest minLength/maxLength/minItems/maxItems honoured
	MaxDepth     = 64   // nesting of subschemas
	maxIntDigits = 15   // unbounded integers have at most this many digits
)

// Error is a schema the compiler cannot honour. Path is a JSON pointer into the schema.
type Error struct {
	Path string
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("schema at %s: %s", e.Path, e.Msg) }

// Keywords that only describe and never constrain.
var annotations = map[string]bool{
	"title": true, "description": true, "default": true, "examples": true, "$schema": true, "$id": true,
	"$comment": true, "deprecated": true, "readOnly": true, "writeOnly": true, "strict": true,
}

// Compile returns a grammar matching exactly the compact JSON serialisations (with an
// optional space after ':' and ',') of instances valid under schema, properties in
// the schema's order.
func Compile(schema any) (*grammar.Grammar, error) {
	b := grammar.NewBuilder()
	c := NewCompiler(b, schema)
	root, err := c.Value(schema)
	if err != nil {
		return nil, err
	}
	g, err := b.Build(b.Rule("root", root))
	if err != nil {
		return nil, &Error{Path: "#", Msg: err.Error()}
	}
	return g, nil
}

// Compiler adds schemas to a grammar being built, so callers can embed them (a tool
// call's arguments inside its wrapper).
type Compiler struct {
	b       *grammar.Builder
	root    any
	refs    map[string]grammar.Expr
	prims   map[string]grammar.Expr
	depth   int
	Prefix  string // where the schema sits, for error paths; default "#"
	anyJSON grammar.Expr
	hasAny  bool
}

// NewCompiler compiles subschemas of root (the document $refs resolve against) into b.
func NewCompiler(b *grammar.Builder, root any) *Compiler {
	return &Compiler{b: b, root: root, refs: map[string]grammar.Expr{}, prims: map[string]grammar.Expr{}}
}

// Value compiles schema (the whole document given to NewCompiler, or a part of it).
func (c *Compiler) Value(schema any) (grammar.Expr, error) {
	return c.compile(schema, "#")
}

func (c *Compiler) errf(path, format string, args ...any) error {
	prefix := c.Prefix
	if prefix == "" {
		prefix = "#"
	}
	return &Error{Path: prefix + strings.TrimPrefix(path, "#"), Msg: fmt.Sprintf(format, args...)}
}

func (c *Compiler) ws() grammar.Expr {
	return c.prim("ws", func() grammar.Expr { return c.b.Opt("ws", grammar.Lit(" ")) })
}

func (c *Compiler) prim(name string, mk func() grammar.Expr) grammar.Expr {
	if e, ok := c.prims[name]; ok {
		return e
	}
	e := mk()
	c.prims[name] = e
	return e
}

func (c *Compiler) compile(s any, path string) (grammar.Expr, error) {
	c.depth++
	defer func() { c.depth-- }()
	if c.depth > MaxDepth {
		return grammar.Expr{}, c.errf(path, "nested deeper than %d levels", MaxDepth)
	}
	switch v := s.(type) {
	case bool:
		if !v {
			return grammar.Expr{}, c.errf(path, "the schema false accepts nothing")
		}
		return c.AnyValue(), nil
	case map[string]any:
		return c.compileObjectSchema(v, path)
	}
	return grammar.Expr{}, c.errf(path, "a schema must be an object or a boolean")
}

func (c *Compiler) compileObjectSchema(s map[string]any, path string) (grammar.Expr, error) {
	for k := range s {
		if k != orderKey && !annotations[k] && !known[k] {
			return grammar.Expr{}, c.errf(path+"/"+k, "keyword %q is not supported", k)
		}
	}
	if ref, ok := s["$ref"]; ok {
		if len(s) > 1 {
			for k := range s {
				if k != "$ref" && k != orderKey && !annotations[k] && k != "$defs" && k != "definitions" {
					return grammar.Expr{}, c.errf(path, "%q beside $ref is not supported", k)
				}
			}
		}
		r, ok := ref.(string)
		if !ok {
			return grammar.Expr{}, c.errf(path+"/$ref", "must be a string")
		}
		return c.ref(r, path+"/$ref")
	}
	if v, ok := s["const"]; ok {
		return c.literals([]any{v}, path+"/const")
	}
	if v, ok := s["enum"]; ok {
		arr, ok := v.([]any)
		if !ok || len(arr) == 0 {
			return grammar.Expr{}, c.errf(path+"/enum", "must be a non-empty array")
		}
		return c.literals(arr, path+"/enum")
	}
	if v, ok := s["anyOf"]; ok {
		return c.anyOf(v, path+"/anyOf")
	}
	if v, ok := s["oneOf"]; ok {
		// Only the common nullable form is exclusive by construction.
		return c.anyOf(v, path+"/oneOf")
	}
	if v, ok := s["allOf"]; ok {
		arr, ok := v.([]any)
		if !ok || len(arr) != 1 {
			return grammar.Expr{}, c.errf(path+"/allOf", "only an allOf with one schema is supported")
		}
		return c.compile(arr[0], path+"/allOf/0")
	}
	types, err := typeList(s, path, c)
	if err != nil {
		return grammar.Expr{}, err
	}
	if types == nil {
		// No type: infer from the keywords, else any value.
		switch {
		case s["properties"] != nil || s["required"] != nil || s["additionalProperties"] != nil:
			types = []string{"object"}
		case s["items"] != nil:
			types = []string{"array"}
		default:
			return c.AnyValue(), nil
		}
	}
	var alts []grammar.Expr
	for _, t := range types {
		var e grammar.Expr
		var err error
		switch t {
		case "object":
			e, err = c.object(s, path)
		case "array":
			e, err = c.array(s, path)
		case "string":
			e, err = c.str(s, path)
		case "integer":
			e, err = c.integer(s, path)
		case "number":
			e, err = c.number(s, path)
		case "boolean":
			e = c.b.Alt("boolean", grammar.Lit("true"), grammar.Lit("false"))
		case "null":
			e = grammar.Lit("null")
		default:
			return grammar.Expr{}, c.errf(path+"/type", "unknown type %q", t)
		}
		if err != nil {
			return grammar.Expr{}, err
		}
		alts = append(alts, e)
	}
	if len(alts) == 1 {
		return alts[0], nil
	}
	return c.b.Alt("types", alts...), nil
}

var known = map[string]bool{
	"type": true, "properties": true, "required": true, "additionalProperties": true, "items": true,
	"minItems": true, "maxItems": true, "enum": true, "const": true, "anyOf": true, "oneOf": true, "allOf": true,
	"$ref": true, "$defs": true, "definitions": true, "minimum": true, "maximum": true, "exclusiveMinimum": true,
	"exclusiveMaximum": true, "pattern": true, "minLength": true, "maxLength": true, "format": true, "nullable": true,
}

func typeList(s map[string]any, path string, c *Compiler) ([]string, error) {
	var types []string
	switch t := s["type"].(type) {
	case nil:
		if _, ok := s["type"]; ok {
			return nil, c.errf(path+"/type", "must be a string or an array of strings")
		}
	case string:
		types = []string{t}
	case []any:
		for i, x := range t {
			str, ok := x.(string)
			if !ok {
				return nil, c.errf(fmt.Sprintf("%s/type/%d", path, i), "must be a string")
			}
			if !slices.Contains(types, str) {
				types = append(types, str)
			}
		}
		if len(types) == 0 {
			return nil, c.errf(path+"/type", "must not be empty")
		}
	default:
		return nil, c.errf(path+"/type", "must be a string or an array of strings")
	}
	if n, ok := s["nullable"].(bool); ok && n && types != nil && !slices.Contains(types, "null") {
		types = append(types, "null")
	}
	return types, nil
}

func (c *Compiler) anyOf(v any, path string) (grammar.Expr, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) == 0 {
		return grammar.Expr{}, c.errf(path, "must be a non-empty array of schemas")
	}
	alts := make([]grammar.Expr, len(arr))
	for i, sub := range arr {
		e, err := c.compile(sub, fmt.Sprintf("%s/%d", path, i))
		if err != nil {
			return grammar.Expr{}, err
		}
		alts[i] = e
	}
	return c.b.Alt("anyOf", alts...), nil
}

func (c *Compiler) ref(r, path string) (grammar.Expr, error) {
	if e, ok := c.refs[r]; ok {
		return e, nil
	}
	var target any
	switch {
	case r == "#":
		target = c.root
	case strings.HasPrefix(r, "#/"):
		target = c.root
		for _, part := range strings.Split(r[2:], "/") {
			part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
			m, ok := target.(map[string]any)
			if !ok {
				return grammar.Expr{}, c.errf(path, "reference %q does not resolve", r)
			}
			if target, ok = m[part]; !ok {
				return grammar.Expr{}, c.errf(path, "reference %q does not resolve", r)
			}
		}
	default:
		return grammar.Expr{}, c.errf(path, "only local references (#/$defs/...) are supported, got %q", r)
	}
	// Declared before compiling, so recursive schemas refer to themselves.
	rule := c.b.NewRule("ref")
	c.refs[r] = rule
	e, err := c.compile(target, r)
	if err != nil {
		return grammar.Expr{}, err
	}
	c.b.Define(rule, e)
	return rule, nil
}

// literals matches the compact JSON of each value.
func (c *Compiler) literals(vals []any, path string) (grammar.Expr, error) {
	alts := make([]grammar.Expr, 0, len(vals))
	seen := map[string]bool{}
	for _, v := range vals {
		b, err := json.Marshal(stripOrder(v))
		if err != nil {
			return grammar.Expr{}, c.errf(path, "cannot encode %v", v)
		}
		if seen[string(b)] {
			continue
		}
		seen[string(b)] = true
		alts = append(alts, grammar.Lit(string(b)))
	}
	return c.b.Alt("enum", alts...), nil
}

func (c *Compiler) object(s map[string]any, path string) (grammar.Expr, error) {
	switch ap := s["additionalProperties"].(type) {
	case nil:
	case bool:
		if ap {
			return grammar.Expr{}, c.errf(path+"/additionalProperties", "only false is supported (output holds the listed properties only)")
		}
	case map[string]any:
		return grammar.Expr{}, c.errf(path+"/additionalProperties", "a schema here (a map) is not supported; only false")
	default:
		return grammar.Expr{}, c.errf(path+"/additionalProperties", "must be a boolean")
	}
	props, _ := s["properties"].(map[string]any)
	if s["properties"] != nil && props == nil {
		return grammar.Expr{}, c.errf(path+"/properties", "must be an object")
	}
	required := map[string]bool{}
	if r, ok := s["required"]; ok {
		arr, ok := r.([]any)
		if !ok {
			return grammar.Expr{}, c.errf(path+"/required", "must be an array of strings")
		}
		for i, x := range arr {
			name, ok := x.(string)
			if !ok || name == orderKey {
				return grammar.Expr{}, c.errf(fmt.Sprintf("%s/required/%d", path, i), "must be a string")
			}
			if _, ok := props[name]; !ok {
				return grammar.Expr{}, c.errf(fmt.Sprintf("%s/required/%d", path, i), "%q is not in properties", name)
			}
			required[name] = true
		}
	}
	names := propertyOrder(props)
	kvs := make([]grammar.Expr, len(names))
	for i, name := range names {
		val, err := c.compile(props[name], path+"/properties/"+name)
		if err != nil {
			return grammar.Expr{}, err
		}
		key, _ := json.Marshal(name)
		kvs[i] = grammar.Seq(grammar.Lit(string(key)), grammar.Lit(":"), c.ws(), val)
	}
	// rest[i][first]: properties i.. where first means no comma is due before the next.
	type key struct {
		i     int
		first bool
	}
	memo := map[key]grammar.Expr{}
	var rest func(i int, first bool) grammar.Expr
	rest = func(i int, first bool) grammar.Expr {
		if i == len(names) {
			return grammar.Empty()
		}
		if e, ok := memo[key{i, first}]; ok {
			return e
		}
		kv := kvs[i]
		if !first {
			kv = grammar.Seq(grammar.Lit(","), c.ws(), kv)
		}
		var e grammar.Expr
		if required[names[i]] {
			e = c.b.Rule("props", grammar.Seq(kv, rest(i+1, false)))
		} else {
			e = c.b.Rule("props", grammar.Seq(kv, rest(i+1, false)), rest(i+1, first))
		}
		memo[key{i, first}] = e
		return e
	}
	return grammar.Seq(grammar.Lit("{"), rest(0, true), grammar.Lit("}")), nil
}

// propertyOrder is the order of the properties in the schema document, when it was
// read by Parse; otherwise alphabetical.
func propertyOrder(props map[string]any) []string {
	var names []string
	if ord, ok := props[orderKey].([]string); ok {
		for _, k := range ord {
			if _, ok := props[k]; ok {
				names = append(names, k)
			}
		}
		return names
	}
	for k := range props {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func (c *Compiler) array(s map[string]any, path string) (grammar.Expr, error) {
	var item grammar.Expr
	if it, ok := s["items"]; ok {
		if _, isArr := it.([]any); isArr {
			return grammar.Expr{}, c.errf(path+"/items", "tuple items are not supported")
		}
		var err error
		if item, err = c.compile(it, path+"/items"); err != nil {
			return grammar.Expr{}, err
		}
	} else {
		item = c.AnyValue()
	}
	lo, hi, err := c.bounds(s, "minItems", "maxItems", path)
	if err != nil {
		return grammar.Expr{}, err
	}
	sep := grammar.Seq(grammar.Lit(","), c.ws(), item)
	var body grammar.Expr
	if hi == 0 {
		body = grammar.Empty()
	} else {
		hiRest := -1
		if hi > 0 {
			hiRest = hi - 1
		}
		items := grammar.Seq(item, c.b.Repeat("items", sep, max(lo-1, 0), hiRest))
		if lo == 0 {
			body = c.b.Opt("items", items)
		} else {
			body = items
		}
	}
	return grammar.Seq(grammar.Lit("["), body, grammar.Lit("]")), nil
}

// bounds reads a min/max pair of counts; hi is -1 when absent.
func (c *Compiler) bounds(s map[string]any, minKey, maxKey, path string) (lo, hi int, err error) {
	hi = -1
	for _, k := range []string{minKey, maxKey} {
		v, ok := s[k]
		if !ok {
			continue
		}
		n, ok := v.(json.Number)
		i, perr := strconv.Atoi(string(n))
		if !ok || perr != nil || i < 0 {
			return 0, 0, c.errf(path+"/"+k, "must be a non-negative integer")
		}
		if i > MaxLength {
			return 0, 0, c.errf(path+"/"+k, "at most %d is supported, got %d", MaxLength, i)
		}
		if k == minKey {
			lo = i
		} else {
			hi = i
		}
	}
	if hi >= 0 && lo > hi {
		return 0, 0, c.errf(path+"/"+minKey, "is greater than %s", maxKey)
	}
	return lo, hi, nil
}

// Byte classes of a JSON string's characters.
func (c *Compiler) strChar() grammar.Expr {
	return c.prim("char", func() grammar.Expr {
		hex := grammar.Chars(grammar.Range{Lo: '0', Hi: '9'}, grammar.Range{Lo: 'a', Hi: 'f'}, grammar.Range{Lo: 'A', Hi: 'F'})
		alts := []grammar.Expr{grammar.Chars(grammar.Range{Lo: 0x20, Hi: 0x21}, grammar.Range{Lo: 0x23, Hi: 0x5B}, grammar.Range{Lo: 0x5D, Hi: 0x7F})}
		alts = append(alts, utf8Multi()...)
		alts = append(alts,
			grammar.Seq(grammar.Lit(`\`), grammar.Chars(grammar.Range{Lo: '"', Hi: '"'}, grammar.Range{Lo: '\\', Hi: '\\'},
				grammar.Range{Lo: '/', Hi: '/'}, grammar.Range{Lo: 'b', Hi: 'b'}, grammar.Range{Lo: 'f', Hi: 'f'},
				grammar.Range{Lo: 'n', Hi: 'n'}, grammar.Range{Lo: 'r', Hi: 'r'}, grammar.Range{Lo: 't', Hi: 't'})),
			grammar.Seq(grammar.Lit(`\u`), hex, hex, hex, hex))
		return c.b.Rule("char", alts...)
	})
}

func (c *Compiler) anyString() grammar.Expr {
	return c.prim("string", func() grammar.Expr {
		return c.b.Rule("string", grammar.Seq(grammar.Lit(`"`), c.b.Star("chars", c.strChar()), grammar.Lit(`"`)))
	})
}

func (c *Compiler) str(s map[string]any, path string) (grammar.Expr, error) {
	lo, hi, err := c.bounds(s, "minLength", "maxLength", path)
	if err != nil {
		return grammar.Expr{}, err
	}
	if p, ok := s["pattern"]; ok {
		ps, ok := p.(string)
		if !ok {
			return grammar.Expr{}, c.errf(path+"/pattern", "must be a string")
		}
		if lo != 0 || hi >= 0 {
			return grammar.Expr{}, c.errf(path+"/pattern", "pattern together with minLength/maxLength is not supported")
		}
		e, err := compilePattern(c.b, ps, c.strChar())
		if err != nil {
			return grammar.Expr{}, c.errf(path+"/pattern", "%v", err)
		}
		return grammar.Seq(grammar.Lit(`"`), e, grammar.Lit(`"`)), nil
	}
	if f, ok := s["format"]; ok {
		fs, _ := f.(string)
		e, ok := c.format(fs)
		if !ok {
			return grammar.Expr{}, c.errf(path+"/format", "format %q is not supported (supported: date, time, date-time, uuid)", fs)
		}
		return grammar.Seq(grammar.Lit(`"`), e, grammar.Lit(`"`)), nil
	}
	if lo == 0 && hi < 0 {
		return c.anyString(), nil
	}
	return grammar.Seq(grammar.Lit(`"`), c.b.Repeat("chars", c.strChar(), lo, hi), grammar.Lit(`"`)), nil
}

func (c *Compiler) format(f string) (grammar.Expr, bool) {
	d := grammar.Chars(grammar.Range{Lo: '0', Hi: '9'})
	hex := grammar.Chars(grammar.Range{Lo: '0', Hi: '9'}, grammar.Range{Lo: 'a', Hi: 'f'})
	date := func() grammar.Expr {
		return grammar.Seq(d, d, d, d, grammar.Lit("-"),
			c.b.Alt("month", grammar.Seq(grammar.Lit("0"), grammar.Chars(grammar.Range{Lo: '1', Hi: '9'})), grammar.Seq(grammar.Lit("1"), grammar.Chars(grammar.Range{Lo: '0', Hi: '2'}))),
			grammar.Lit("-"),
			c.b.Alt("day", grammar.Seq(grammar.Lit("0"), grammar.Chars(grammar.Range{Lo: '1', Hi: '9'})), grammar.Seq(grammar.Chars(grammar.Range{Lo: '1', Hi: '2'}), d), grammar.Seq(grammar.Lit("3"), grammar.Chars(grammar.Range{Lo: '0', Hi: '1'}))))
	}
	tm := func() grammar.Expr {
		h := c.b.Alt("hour", grammar.Seq(grammar.Chars(grammar.Range{Lo: '0', Hi: '1'}), d), grammar.Seq(grammar.Lit("2"), grammar.Chars(grammar.Range{Lo: '0', Hi: '3'})))
		m := grammar.Seq(grammar.Chars(grammar.Range{Lo: '0', Hi: '5'}), d)
		frac := c.b.Opt("frac", grammar.Seq(grammar.Lit("."), c.b.Repeat("fd", d, 1, 9)))
		zone := c.b.Alt("zone", grammar.Lit("Z"), grammar.Seq(grammar.Chars(grammar.Range{Lo: '+', Hi: '+'}, grammar.Range{Lo: '-', Hi: '-'}), h, grammar.Lit(":"), m))
		return grammar.Seq(h, grammar.Lit(":"), m, grammar.Lit(":"), m, frac, zone)
	}
	switch f {
	case "date":
		return date(), true
	case "time":
		return tm(), true
	case "date-time":
		return grammar.Seq(date(), grammar.Lit("T"), tm()), true
	case "uuid":
		n := func(k int) grammar.Expr { return c.b.Repeat("hex", hex, k, k) }
		return grammar.Seq(n(8), grammar.Lit("-"), n(4), grammar.Lit("-"), n(4), grammar.Lit("-"), n(4), grammar.Lit("-"), n(12)), true
	}
	return grammar.Expr{}, false
}

// AnyValue matches any JSON value (compact, optional space after ':' and ',').
func (c *Compiler) AnyValue() grammar.Expr {
	if c.hasAny {
		return c.anyJSON
	}
	c.hasAny = true
	v := c.b.NewRule("value")
	c.anyJSON = v
	obj := c.anyObjectWith(v)
	arr := grammar.Seq(grammar.Lit("["), c.b.Opt("elems", grammar.Seq(v, c.b.Star("more", grammar.Seq(grammar.Lit(","), c.ws(), v)))), grammar.Lit("]"))
	num := c.numberGrammar(false, true)
	c.b.Define(v, obj, arr, c.anyString(), num, grammar.Lit("true"), grammar.Lit("false"), grammar.Lit("null"))
	return v
}

// AnyObject matches any JSON object (json_object mode).
func (c *Compiler) AnyObject() grammar.Expr { return c.anyObjectWith(c.AnyValue()) }

func (c *Compiler) anyObjectWith(v grammar.Expr) grammar.Expr {
	return c.prim("object", func() grammar.Expr {
		kv := grammar.Seq(c.anyString(), grammar.Lit(":"), c.ws(), v)
		return c.b.Rule("object", grammar.Seq(grammar.Lit("{"), c.b.Opt("members", grammar.Seq(kv, c.b.Star("more", grammar.Seq(grammar.Lit(","), c.ws(), kv)))), grammar.Lit("}")))
	})
}

// numberGrammar: optional minus, integer part of at most maxIntDigits digits, optional
// fraction and exponent (both bounded in length so a value always ends).
func (c *Compiler) numberGrammar(nonNeg, frac bool) grammar.Expr {
	name := fmt.Sprintf("number-%v-%v", nonNeg, frac)
	return c.prim(name, func() grammar.Expr {
		d := grammar.Chars(grammar.Range{Lo: '0', Hi: '9'})
		intPart := c.b.Alt("int", grammar.Lit("0"), grammar.Seq(grammar.Chars(grammar.Range{Lo: '1', Hi: '9'}), c.b.Repeat("digits", d, 0, maxIntDigits-1)))
		parts := []grammar.Expr{}
		if !nonNeg {
			parts = append(parts, c.b.Opt("minus", grammar.Lit("-")))
		}
		parts = append(parts, intPart)
		if frac {
			parts = append(parts, c.b.Opt("frac", grammar.Seq(grammar.Lit("."), c.b.Repeat("fdigits", d, 1, 16))))
			parts = append(parts, c.b.Opt("exp", grammar.Seq(grammar.Chars(grammar.Range{Lo: 'e', Hi: 'e'}, grammar.Range{Lo: 'E', Hi: 'E'}),
				c.b.Opt("sign", grammar.Chars(grammar.Range{Lo: '+', Hi: '+'}, grammar.Range{Lo: '-', Hi: '-'})), c.b.Repeat("edigits", d, 1, 3))))
		}
		return c.b.Rule(name, grammar.Seq(parts...))
	})
}

// numBound reads minimum/maximum (and their exclusive forms) as float64s.
func (c *Compiler) numBound(s map[string]any, path string) (lo, hi float64, loEx, hiEx bool, err error) {
	lo, hi = math.Inf(-1), math.Inf(1)
	for _, k := range []string{"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"} {
		v, ok := s[k]
		if !ok {
			continue
		}
		n, ok := v.(json.Number)
		if !ok {
			if k == "exclusiveMinimum" || k == "exclusiveMaximum" {
				return 0, 0, false, false, c.errf(path+"/"+k, "must be a number (the draft-4 boolean form is not supported)")
			}
			return 0, 0, false, false, c.errf(path+"/"+k, "must be a number")
		}
		f, perr := n.Float64()
		if perr != nil || math.IsInf(f, 0) {
			return 0, 0, false, false, c.errf(path+"/"+k, "must be a finite number")
		}
		switch k {
		case "minimum":
			if f > lo {
				lo, loEx = f, false
			}
		case "maximum":
			if f < hi {
				hi, hiEx = f, false
			}
		case "exclusiveMinimum":
			if f >= lo {
				lo, loEx = f, true
			}
		case "exclusiveMaximum":
			if f <= hi {
				hi, hiEx = f, true
			}
		}
	}
	return lo, hi, loEx, hiEx, nil
}

const maxIntBound = 1e15 - 1

func (c *Compiler) integer(s map[string]any, path string) (grammar.Expr, error) {
	lo, hi, loEx, hiEx, err := c.numBound(s, path)
	if err != nil {
		return grammar.Expr{}, err
	}
	ilo, ihi := int64(-maxIntBound), int64(maxIntBound)
	if !math.IsInf(lo, -1) {
		if math.Abs(lo) > maxIntBound {
			return grammar.Expr{}, c.errf(path+"/minimum", "bounds beyond ±%d are not supported", int64(maxIntBound))
		}
		ilo = int64(math.Ceil(lo))
		if loEx && float64(ilo) == lo {
			ilo++
		}
	}
	if !math.IsInf(hi, 1) {
		if math.Abs(hi) > maxIntBound {
			return grammar.Expr{}, c.errf(path+"/maximum", "bounds beyond ±%d are not supported", int64(maxIntBound))
		}
		ihi = int64(math.Floor(hi))
		if hiEx && float64(ihi) == hi {
			ihi--
		}
	}
	if ilo > ihi {
		return grammar.Expr{}, c.errf(path, "no integer lies between minimum and maximum")
	}
	return c.intRange(ilo, ihi), nil
}

// intRange matches the decimal integers in [lo, hi].
func (c *Compiler) intRange(lo, hi int64) grammar.Expr {
	var alts []grammar.Expr
	if lo < 0 {
		nlo, nhi := int64(1), -lo
		if hi < 0 {
			nlo = -hi
		}
		alts = append(alts, grammar.Seq(grammar.Lit("-"), c.natRange(uint64(nlo), uint64(nhi))))
	}
	if hi >= 0 {
		alts = append(alts, c.natRange(uint64(max(lo, 0)), uint64(hi)))
	}
	if len(alts) == 1 {
		return alts[0]
	}
	return c.b.Alt("int", alts...)
}

// natRange matches decimals of naturals in [lo, hi], without leading zeros.
func (c *Compiler) natRange(lo, hi uint64) grammar.Expr {
	var alts []grammar.Expr
	for l := len(strconv.FormatUint(lo, 10)); l <= len(strconv.FormatUint(hi, 10)); l++ {
		a, b := uint64(0), uint64(math.Pow10(l))-1
		if l > 1 {
			a = uint64(math.Pow10(l - 1))
		}
		a, b = max(a, lo), min(b, hi)
		if a > b {
			continue
		}
		alts = append(alts, c.digitRange(strconv.FormatUint(a, 10), strconv.FormatUint(b, 10)))
	}
	if len(alts) == 1 {
		return alts[0]
	}
	return c.b.Alt("nat", alts...)
}

// digitRange matches digit strings of len(a) between a and b (same length, a <= b).
func (c *Compiler) digitRange(a, b string) grammar.Expr {
	if a == "" {
		return grammar.Empty()
	}
	d := func(lo, hi byte) grammar.Expr { return grammar.Chars(grammar.Range{Lo: lo, Hi: hi}) }
	if a[0] == b[0] {
		return grammar.Seq(grammar.Byte(a[0]), c.digitRange(a[1:], b[1:]))
	}
	n := len(a) - 1
	if strings.Trim(a[1:], "0") == "" && strings.Trim(b[1:], "9") == "" {
		return grammar.Seq(d(a[0], b[0]), c.b.Repeat("d", d('0', '9'), n, n))
	}
	var alts []grammar.Expr
	alts = append(alts, grammar.Seq(grammar.Byte(a[0]), c.digitRange(a[1:], strings.Repeat("9", n))))
	if a[0]+1 <= b[0]-1 {
		alts = append(alts, grammar.Seq(d(a[0]+1, b[0]-1), c.b.Repeat("d", d('0', '9'), n, n)))
	}
	alts = append(alts, grammar.Seq(grammar.Byte(b[0]), c.digitRange(strings.Repeat("0", n), b[1:])))
	return c.b.Alt("digits", alts...)
}

func (c *Compiler) number(s map[string]any, path string) (grammar.Expr, error) {
	lo, hi, loEx, hiEx, err := c.numBound(s, path)
	if err != nil {
		return grammar.Expr{}, err
	}
	if math.IsInf(lo, -1) && math.IsInf(hi, 1) {
		return c.numberGrammar(false, true), nil
	}
	// Bounds on numbers: whole-number bounds with a non-negative minimum.
	if math.IsInf(lo, -1) || lo < 0 || lo != math.Trunc(lo) || (!math.IsInf(hi, 1) && hi != math.Trunc(hi)) || lo > maxIntBound || hi > maxIntBound {
		return grammar.Expr{}, c.errf(path, "number bounds are supported only as whole numbers with a minimum >= 0 (use type integer, or drop the bounds)")
	}
	d := grammar.Chars(grammar.Range{Lo: '0', Hi: '9'})
	frac := grammar.Seq(grammar.Lit("."), c.b.Repeat("fdigits", d, 1, 16))
	nonzeroFrac := grammar.Seq(grammar.Lit("."), c.b.Repeat("fdigits", d, 0, 15), grammar.Chars(grammar.Range{Lo: '1', Hi: '9'}))
	zeros := grammar.Seq(grammar.Lit("."), c.b.Repeat("zeros", grammar.Lit("0"), 1, 16))
	hiFinite := !math.IsInf(hi, 1)
	ilo, ihi := int64(lo), int64(maxIntBound)
	if hiFinite {
		ihi = int64(hi)
	}
	if ilo == ihi && (loEx || hiEx) {
		return grammar.Expr{}, c.errf(path, "no number lies between minimum and maximum")
	}
	var alts []grammar.Expr
	switch {
	case loEx:
		alts = append(alts, grammar.Seq(c.intRange(ilo, ilo), nonzeroFrac))
	case hiFinite && ilo == ihi:
		alts = append(alts, grammar.Seq(c.intRange(ilo, ilo), c.b.Opt("zeros", zeros)))
	default:
		alts = append(alts, grammar.Seq(c.intRange(ilo, ilo), c.b.Opt("frac", frac)))
	}
	if ihi-1 > ilo {
		alts = append(alts, grammar.Seq(c.intRange(ilo+1, ihi-1), c.b.Opt("frac", frac)))
	}
	if ihi > ilo {
		switch {
		case !hiFinite:
			alts = append(alts, grammar.Seq(c.intRange(ihi, ihi), c.b.Opt("frac", frac)))
		case !hiEx:
			alts = append(alts, grammar.Seq(c.intRange(ihi, ihi), c.b.Opt("zeros", zeros)))
		}
	}
	return c.b.Alt("bounded", alts...), nil
}

// utf8Multi matches one well-formed multi-byte UTF-8 sequence (RFC 3629 table).
func utf8Multi() []grammar.Expr {
	r := func(lo, hi byte) grammar.Expr { return grammar.Chars(grammar.Range{Lo: lo, Hi: hi}) }
	cont := r(0x80, 0xBF)
	return []grammar.Expr{
		grammar.Seq(r(0xC2, 0xDF), cont),
		grammar.Seq(r(0xE0, 0xE0), r(0xA0, 0xBF), cont),
		grammar.Seq(r(0xE1, 0xEC), cont, cont),
		grammar.Seq(r(0xED, 0xED), r(0x80, 0x9F), cont),
		grammar.Seq(r(0xEE, 0xEF), cont, cont),
		grammar.Seq(r(0xF0, 0xF0), r(0x90, 0xBF), cont, cont),
		grammar.Seq(r(0xF1, 0xF3), cont, cont, cont),
		grammar.Seq(r(0xF4, 0xF4), r(0x80, 0x8F), cont, cont),
	}
}
