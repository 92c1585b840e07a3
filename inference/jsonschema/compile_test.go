package jsonschema

import (
	"errors"
	"strings"
	"testing"
)

func mustCompile(t *testing.T, schema string) (any, func(string) bool) {
	t.Helper()
	s, err := Parse([]byte(schema))
	if err != nil {
		t.Fatal(err)
	}
	g, err := Compile(s)
	if err != nil {
		t.Fatalf("compile %s: %v", schema, err)
	}
	return s, func(in string) bool { return g.Match([]byte(in)) }
}

func TestCompileTable(t *testing.T) {
	for _, tc := range []struct {
		name, schema string
		accept       []string
		reject       []string
	}{
		{"strict object", `{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name","age"],"additionalProperties":false}`,
			[]string{`{"name":"Ann","age":31}`, `{"name": "x\"y\u00e9é", "age": -4}`},
			[]string{`{"age":31,"name":"Ann"}`, `{"name":"Ann"}`, `{"name":"Ann","age":3.5}`, `{"name":"Ann","age":31,"x":1}`, `{"name":"Ann","age":031}`}},
		{"optional property", `{"type":"object","properties":{"a":{"type":"boolean"},"b":{"type":"null"},"c":{"type":"boolean"}},"required":["c"]}`,
			[]string{`{"c":true}`, `{"a":false,"c":true}`, `{"a":true,"b":null,"c":false}`, `{"b":null,"c":true}`},
			[]string{`{}`, `{"a":true}`, `{,"c":true}`, `{"c":true,}`}},
		{"enum and const", `{"type":"object","properties":{"u":{"type":"string","enum":["c","f"]},"k":{"const":3}},"required":["u","k"]}`,
			[]string{`{"u":"c","k":3}`, `{"u":"f","k":3}`}, []string{`{"u":"k","k":3}`, `{"u":"c","k":4}`}},
		{"integer range", `{"type":"integer","minimum":-12,"maximum":105}`,
			[]string{"-12", "-1", "0", "9", "10", "99", "100", "105"}, []string{"-13", "106", "110", "999", "-0x", "007"}},
		{"exclusive range", `{"type":"integer","exclusiveMinimum":0,"exclusiveMaximum":10}`,
			[]string{"1", "9"}, []string{"0", "10", "-1"}},
		{"number bounds", `{"type":"number","minimum":0,"maximum":1}`,
			[]string{"0", "0.25", "1", "1.0", "1.000"}, []string{"1.5", "-0.1", "2", "1.01"}},
		{"array bounds", `{"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3}`,
			[]string{"[1]", "[1,2]", "[1, 2,3]"}, []string{"[]", "[1,2,3,4]", "[1,]"}},
		{"array any length", `{"type":"array","items":{"type":"boolean"}}`,
			[]string{"[]", "[true]", "[true,false,true]"}, []string{"[1]"}},
		{"anyOf and null", `{"anyOf":[{"type":"string"},{"type":"null"}]}`,
			[]string{`"x"`, "null"}, []string{"1"}},
		{"type list", `{"type":["integer","null"]}`, []string{"1", "null"}, []string{`"1"`}},
		{"refs and recursion", `{"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},"next":{"anyOf":[{"$ref":"#/$defs/node"},{"type":"null"}]}},"required":["v","next"],"additionalProperties":false}},"$ref":"#/$defs/node"}`,
			[]string{`{"v":1,"next":null}`, `{"v":1,"next":{"v":2,"next":null}}`}, []string{`{"v":1}`}},
		{"pattern", `{"type":"string","pattern":"^[A-Z]{2}-\\d{3}$"}`,
			[]string{`"AB-123"`}, []string{`"AB-12"`, `"ab-123"`, `"AB-1234"`}},
		{"unanchored pattern", `{"type":"string","pattern":"ab"}`,
			[]string{`"ab"`, `"xxaby"`}, []string{`"a"`}},
		{"string length", `{"type":"string","minLength":2,"maxLength":3}`,
			[]string{`"ab"`, `"abc"`, `"\nb"`}, []string{`"a"`, `"abcd"`}},
		{"format date", `{"type":"string","format":"date"}`,
			[]string{`"2024-02-29"`}, []string{`"2024-13-01"`, `"24-01-01"`}},
		{"empty schema is any value", `{}`,
			[]string{`1`, `"s"`, `{"a":[1,{"b":null}]}`, `[]`, `-0.5e+3`}, []string{`{a:1}`, `[1,]`}},
		{"free object", `{"type":"object"}`, []string{`{}`}, []string{`[]`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			schema, match := mustCompile(t, tc.schema)
			for _, in := range tc.accept {
				if !match(in) {
					t.Errorf("refused %s", in)
				}
				if err := ValidateJSON(schema, []byte(in)); err != nil {
					t.Errorf("validator refuses accepted %s: %v", in, err)
				}
			}
			for _, in := range tc.reject {
				if match(in) {
					t.Errorf("accepted %s", in)
				}
			}
		})
	}
}

func TestCompileErrorsNamePath(t *testing.T) {
	for _, tc := range []struct{ schema, path string }{
		{`{"type":"object","properties":{"a":{"type":"string","format":"email"}}}`, "#/properties/a/format"},
		{`{"type":"object","properties":{"a":{"type":"strng"}}}`, "#/properties/a/type"},
		{`{"type":"object","additionalProperties":true}`, "#/additionalProperties"},
		{`{"type":"object","properties":{"a":{"not":{}}}}`, "#/properties/a/not"},
		{`{"type":"array","items":{"type":"integer","multipleOf":3}}`, "#/items/multipleOf"},
		{`{"$ref":"#/$defs/missing"}`, "#/$ref"},
		{`{"$ref":"https://example.com/s.json"}`, "#/$ref"},
		{`{"type":"object","required":["x"],"properties":{}}`, "#/required/0"},
		{`{"type":"string","pattern":"(?=a)"}`, "#/pattern"},
		{`{"type":"integer","minimum":5,"maximum":1}`, "#"},
		{`{"type":"number","minimum":-1.5}`, "#"},
		{`{"$defs":{"a":{"anyOf":[{"$ref":"#/$defs/a"},{"type":"null"}]}},"$ref":"#/$defs/a"}`, "#"},
		{`{"type":"array","maxItems":100000}`, "#/maxItems"},
	} {
		s, err := Parse([]byte(tc.schema))
		if err != nil {
			t.Fatal(err)
		}
		_, err = Compile(s)
		var se *Error
		if !errors.As(err, &se) {
			t.Errorf("%s: err = %v, want *Error", tc.schema, err)
			continue
		}
		if se.Path != tc.path {
			t.Errorf("%s: path %q, want %q (%v)", tc.schema, se.Path, tc.path, err)
		}
	}
	if _, err := Parse([]byte(`{"a":`)); err == nil {
		t.Error("truncated schema parsed")
	}
}

func TestPropertyOrderFollowsSchema(t *testing.T) {
	_, match := mustCompile(t, `{"type":"object","properties":{"zeta":{"type":"integer"},"alpha":{"type":"integer"}},"required":["zeta","alpha"]}`)
	if !match(`{"zeta":1,"alpha":2}`) || match(`{"alpha":2,"zeta":1}`) {
		t.Fatal("property order is not the schema's")
	}
	if !strings.Contains((&Error{Path: "#/x", Msg: "m"}).Error(), "#/x") {
		t.Fatal("error text lacks the path")
	}
}
