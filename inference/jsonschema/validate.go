package jsonschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"
	"unicode/utf8"
)

// ValidateJSON checks that data is one JSON value valid under schema (as returned by
// Parse). It is independent of the compiler, so tests use it to check the grammar.
func ValidateJSON(schema any, data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the value")
	}
	return Validate(schema, v)
}

// Validate checks a decoded instance (numbers as json.Number) against schema.
func Validate(schema, instance any) error {
	return (&validator{root: schema}).check(schema, instance, "$", 0)
}

type validator struct{ root any }

var formats = map[string]*regexp.Regexp{
	"date":      regexp.MustCompile(`^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$`),
	"time":      regexp.MustCompile(`^([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$`),
	"date-time": regexp.MustCompile(`^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$`),
	"uuid":      regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`),
}

func (v *validator) check(s, x any, at string, depth int) error {
	if depth > MaxDepth*4 {
		return fmt.Errorf("%s: schema nests too deeply", at)
	}
	switch sv := s.(type) {
	case bool:
		if !sv {
			return fmt.Errorf("%s: the schema false accepts nothing", at)
		}
		return nil
	case map[string]any:
		return v.checkObj(sv, x, at, depth)
	}
	return fmt.Errorf("%s: bad schema", at)
}

func (v *validator) checkObj(s map[string]any, x any, at string, depth int) error {
	if r, ok := s["$ref"].(string); ok {
		target := v.root
		if r != "#" {
			for _, part := range strings.Split(strings.TrimPrefix(r, "#/"), "/") {
				m, _ := target.(map[string]any)
				target = m[strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")]
			}
		}
		if target == nil {
			return fmt.Errorf("%s: unresolved $ref %s", at, r)
		}
		return v.check(target, x, at, depth+1)
	}
	if c, ok := s["const"]; ok && !equalJSON(c, x) {
		return fmt.Errorf("%s: not the const value", at)
	}
	if e, ok := s["enum"].([]any); ok {
		found := false
		for _, c := range e {
			found = found || equalJSON(c, x)
		}
		if !found {
			return fmt.Errorf("%s: not one of the enum values", at)
		}
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		if subs, ok := s[k].([]any); ok {
			matched := 0
			for _, sub := range subs {
				if v.check(sub, x, at, depth+1) == nil {
					matched++
				}
			}
			if matched == 0 || (k == "oneOf" && matched > 1) {
				return fmt.Errorf("%s: %d schemas of %s match", at, matched, k)
			}
		}
	}
	if subs, ok := s["allOf"].([]any); ok {
		for _, sub := range subs {
			if err := v.check(sub, x, at, depth+1); err != nil {
				return err
			}
		}
	}
	types, _ := typeList(s, "#", &Compiler{})
	if types != nil {
		ok := false
		for _, t := range types {
			ok = ok || hasType(t, x)
		}
		if !ok {
			return fmt.Errorf("%s: is not of type %v", at, types)
		}
	}
	switch xv := x.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for k, val := range xv {
			sub, ok := props[k]
			if !ok || k == orderKey {
				if ap, isBool := s["additionalProperties"].(bool); isBool && !ap {
					return fmt.Errorf("%s: property %q is not allowed", at, k)
				}
				continue
			}
			if err := v.check(sub, val, at+"."+k, depth+1); err != nil {
				return err
			}
		}
		if req, ok := s["required"].([]any); ok {
			for _, r := range req {
				if name, _ := r.(string); name != "" {
					if _, ok := xv[name]; !ok {
						return fmt.Errorf("%s: required property %q is missing", at, name)
					}
				}
			}
		}
	case []any:
		if it, ok := s["items"]; ok {
			for i, e := range xv {
				if err := v.check(it, e, fmt.Sprintf("%s[%d]", at, i), depth+1); err != nil {
					return err
				}
			}
		}
		if n, ok := intKw(s, "minItems"); ok && len(xv) < n {
			return fmt.Errorf("%s: fewer than %d items", at, n)
		}
		if n, ok := intKw(s, "maxItems"); ok && len(xv) > n {
			return fmt.Errorf("%s: more than %d items", at, n)
		}
	case string:
		n := utf8.RuneCountInString(xv)
		if m, ok := intKw(s, "minLength"); ok && n < m {
			return fmt.Errorf("%s: shorter than %d", at, m)
		}
		if m, ok := intKw(s, "maxLength"); ok && n > m {
			return fmt.Errorf("%s: longer than %d", at, m)
		}
		if p, ok := s["pattern"].(string); ok {
			re, err := regexp.Compile(p)
			if err != nil {
				return fmt.Errorf("%s: pattern %q: %v", at, p, err)
			}
			if !re.MatchString(xv) {
				return fmt.Errorf("%s: %q does not match %q", at, xv, p)
			}
		}
		if f, ok := s["format"].(string); ok {
			if re := formats[f]; re != nil && !re.MatchString(xv) {
				return fmt.Errorf("%s: %q is not a %s", at, xv, f)
			}
		}
	case json.Number:
		f, err := xv.Float64()
		if err != nil {
			return fmt.Errorf("%s: bad number", at)
		}
		for k, cmp := range map[string]func(b float64) bool{
			"minimum": func(b float64) bool { return f >= b }, "maximum": func(b float64) bool { return f <= b },
			"exclusiveMinimum": func(b float64) bool { return f > b }, "exclusiveMaximum": func(b float64) bool { return f < b },
		} {
			if bn, ok := s[k].(json.Number); ok {
				b, _ := bn.Float64()
				if !cmp(b) {
					return fmt.Errorf("%s: %s violates %s %s", at, xv, k, bn)
				}
			}
		}
	}
	return nil
}

func intKw(s map[string]any, k string) (int, bool) {
	n, ok := s[k].(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return int(i), err == nil
}

func hasType(t string, x any) bool {
	switch xv := x.(type) {
	case nil:
		return t == "null"
	case bool:
		return t == "boolean"
	case string:
		return t == "string"
	case []any:
		return t == "array"
	case map[string]any:
		return t == "object"
	case json.Number:
		if t == "number" {
			return true
		}
		if t == "integer" {
			f, err := xv.Float64()
			return err == nil && f == math.Trunc(f) && !strings.ContainsAny(string(xv), ".eE")
		}
	}
	return false
}

func equalJSON(a, b any) bool {
	ja, err1 := json.Marshal(normNumbers(stripOrder(a)))
	jb, err2 := json.Marshal(normNumbers(stripOrder(b)))
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// normNumbers makes 1 and 1.0 compare equal.
func normNumbers(v any) any {
	switch t := v.(type) {
	case json.Number:
		f, err := t.Float64()
		if err == nil {
			return f
		}
	case map[string]any:
		out := map[string]any{}
		for k, x := range t {
			out[k] = normNumbers(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = normNumbers(x)
		}
		return out
	}
	return v
}
