package jsonschema

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/aria-node/aria/inference/grammar"
)

// schemaGen builds random schemas in the supported subset, and instances of them.
type schemaGen struct {
	rng  *rand.Rand
	defs map[string]any
}

// patterns with a generator of matching strings.
var patterns = []struct {
	re  string
	gen func(r *rand.Rand) string
}{
	{`^[a-z]{2,4}$`, func(r *rand.Rand) string { return randFrom(r, "abcxyz", 2+r.IntN(3)) }},
	{`^\d+(\.\d{1,2})?$`, func(r *rand.Rand) string { return randFrom(r, "0123456789", 1+r.IntN(4)) + ".5" }},
	{`^(red|green)-[0-9]$`, func(r *rand.Rand) string {
		return []string{"red", "green"}[r.IntN(2)] + "-" + randFrom(r, "0123456789", 1)
	}},
	{`^[^"\\]*$`, func(r *rand.Rand) string { return randFrom(r, "ab é{}", r.IntN(5)) }},
}

func randFrom(r *rand.Rand, alphabet string, n int) string {
	rs := []rune(alphabet)
	var sb strings.Builder
	for range n {
		sb.WriteRune(rs[r.IntN(len(rs))])
	}
	return sb.String()
}

func (g *schemaGen) schema(depth int) map[string]any {
	kinds := 8
	if depth > 2 {
		kinds = 5 // leaves only
	}
	switch g.rng.IntN(kinds) {
	case 0:
		s := map[string]any{"type": "string"}
		switch g.rng.IntN(4) {
		case 1:
			s["enum"] = []any{"a", "b c", `q"t`}
		case 2:
			s["pattern"] = patterns[g.rng.IntN(len(patterns))].re
		case 3:
			s["minLength"] = json.Number("1")
			s["maxLength"] = json.Number(strconv.Itoa(1 + g.rng.IntN(6)))
		}
		return s
	case 1:
		lo := g.rng.IntN(2000) - 1000
		return map[string]any{"type": "integer", "minimum": json.Number(strconv.Itoa(lo)), "maximum": json.Number(strconv.Itoa(lo + g.rng.IntN(3000)))}
	case 2:
		return map[string]any{"type": "number", "minimum": json.Number("0"), "maximum": json.Number(strconv.Itoa(1 + g.rng.IntN(100)))}
	case 3:
		return map[string]any{"type": "boolean"}
	case 4:
		return map[string]any{"type": []any{"integer", "null"}}
	case 5:
		n := g.rng.IntN(4)
		props := map[string]any{}
		var order, req []string
		for i := range n {
			name := fmt.Sprintf("p%d", i)
			props[name] = g.schema(depth + 1)
			order = append(order, name)
			if g.rng.IntN(3) > 0 {
				req = append(req, name)
			}
		}
		props[orderKey] = order
		reqAny := []any{}
		for _, r := range req {
			reqAny = append(reqAny, r)
		}
		return map[string]any{"type": "object", "properties": props, "required": reqAny, "additionalProperties": false}
	case 6:
		lo := g.rng.IntN(3)
		return map[string]any{"type": "array", "items": g.schema(depth + 1), "minItems": json.Number(strconv.Itoa(lo)), "maxItems": json.Number(strconv.Itoa(lo + g.rng.IntN(3)))}
	default:
		name := fmt.Sprintf("d%d", len(g.defs))
		g.defs[name] = nil // reserve the name
		g.defs[name] = g.schema(depth + 1)
		return map[string]any{"anyOf": []any{map[string]any{"$ref": "#/$defs/" + name}, map[string]any{"type": "null"}}}
	}
}

// instance generates a value valid under s.
func (g *schemaGen) instance(s map[string]any, root map[string]any) any {
	if r, ok := s["$ref"].(string); ok {
		return g.instance(root["$defs"].(map[string]any)[strings.TrimPrefix(r, "#/$defs/")].(map[string]any), root)
	}
	if subs, ok := s["anyOf"].([]any); ok {
		return g.instance(subs[g.rng.IntN(len(subs))].(map[string]any), root)
	}
	if e, ok := s["enum"].([]any); ok {
		return e[g.rng.IntN(len(e))]
	}
	num := func(k string) int { n, _ := strconv.Atoi(string(s[k].(json.Number))); return n }
	switch t := s["type"].(type) {
	case []any:
		if g.rng.IntN(2) == 0 {
			return nil
		}
		return json.Number(strconv.Itoa(g.rng.IntN(100000) - 50000))
	case string:
		switch t {
		case "string":
			if p, ok := s["pattern"].(string); ok {
				for _, pp := range patterns {
					if pp.re == p {
						return pp.gen(g.rng)
					}
				}
			}
			if _, ok := s["maxLength"]; ok {
				return randFrom(g.rng, "xy\n\"é", 1+g.rng.IntN(num("maxLength")))
			}
			return randFrom(g.rng, "hello wörld\\\"\t", g.rng.IntN(8))
		case "integer":
			lo, hi := num("minimum"), num("maximum")
			return json.Number(strconv.Itoa(lo + g.rng.IntN(hi-lo+1)))
		case "number":
			hi := num("maximum")
			v := float64(g.rng.IntN(hi*100+1)) / 100
			return json.Number(strconv.FormatFloat(v, 'f', -1, 64))
		case "boolean":
			return g.rng.IntN(2) == 0
		case "null":
			return nil
		case "object":
			props := s["properties"].(map[string]any)
			req := map[string]bool{}
			for _, r := range s["required"].([]any) {
				req[r.(string)] = true
			}
			out := orderedObject{}
			for _, name := range props[orderKey].([]string) {
				if req[name] || g.rng.IntN(2) == 0 {
					out = append(out, kv{name, g.instance(props[name].(map[string]any), root)})
				}
			}
			return out
		case "array":
			lo, hi := num("minItems"), num("maxItems")
			n := lo + g.rng.IntN(hi-lo+1)
			out := []any{}
			for range n {
				out = append(out, g.instance(s["items"].(map[string]any), root))
			}
			return out
		}
	}
	panic(fmt.Sprintf("no instance for %v", s))
}

type kv struct {
	k string
	v any
}

// orderedObject marshals its keys in order.
type orderedObject []kv

func (o orderedObject) MarshalJSON() ([]byte, error) {
	var sb strings.Builder
	sb.WriteByte('{')
	for i, p := range o {
		if i > 0 {
			sb.WriteByte(',')
		}
		k, _ := json.Marshal(p.k)
		v, err := json.Marshal(p.v)
		if err != nil {
			return nil, err
		}
		sb.Write(k)
		sb.WriteByte(':')
		sb.Write(v)
	}
	sb.WriteByte('}')
	return []byte(sb.String()), nil
}

// walk generates a sentence of g by random choices, biased towards closing values so
// it ends; ok is false when it ran out of steps.
func walk(g *grammar.Grammar, r *rand.Rand, steps int) ([]byte, bool) {
	m := g.NewMatcher()
	var out []byte
	closers := []byte(`"]}0123456789`)
	for range steps {
		if m.Done() && (m.Final() || r.IntN(4) == 0) {
			return out, true
		}
		var opts []byte
		for c := range 256 {
			if m.CanAccept([]byte{byte(c)}) {
				opts = append(opts, byte(c))
			}
		}
		if len(opts) == 0 {
			return out, false
		}
		pick := opts[r.IntN(len(opts))]
		if r.IntN(3) == 0 {
			for _, c := range closers {
				if m.CanAccept([]byte{c}) {
					pick = c
					break
				}
			}
		}
		m.Accept([]byte{pick})
		out = append(out, pick)
	}
	return out, m.Done()
}

// FuzzSchemaGrammar: for random schemas, the grammar accepts every generated instance
// that the validator accepts, and every sentence the grammar generates validates.
func FuzzSchemaGrammar(f *testing.F) {
	for i := range 16 {
		f.Add(uint64(i))
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], seed)
		g := &schemaGen{rng: rand.New(rand.NewPCG(seed, 7)), defs: map[string]any{}}
		root := g.schema(0)
		if len(g.defs) > 0 {
			root["$defs"] = g.defs
		}
		gram, err := Compile(root)
		if err != nil {
			t.Fatalf("schema %v: %v", root, err)
		}
		for range 8 {
			inst := g.instance(root, root)
			data, err := json.Marshal(inst)
			if err != nil {
				t.Fatal(err)
			}
			if err := ValidateJSON(root, data); err != nil {
				t.Fatalf("generator made an invalid instance %s: %v", data, err)
			}
			if !gram.Match(data) {
				t.Fatalf("grammar refuses valid instance %s of %v", data, stripOrder(root))
			}
		}
		for range 4 {
			out, ok := walk(gram, g.rng, 400)
			if !ok {
				continue
			}
			if err := ValidateJSON(root, out); err != nil {
				t.Fatalf("grammar generated %s, invalid under %v: %v", out, stripOrder(root), err)
			}
		}
	})
}

// FuzzParse: any bytes as a schema give a grammar or an *Error, never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"type":"object","properties":{"a":{"type":"string","pattern":"^a+$"}},"required":["a"]}`))
	f.Add([]byte(`{"$defs":{"x":{"$ref":"#/$defs/x"}},"$ref":"#/$defs/x"}`))
	f.Add([]byte(`{"type":"integer","minimum":-5,"exclusiveMaximum":7}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			return
		}
		if g, err := Compile(s); err == nil {
			g.NewMatcher().Accept(data)
		}
	})
}
