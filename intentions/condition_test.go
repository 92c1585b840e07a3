package intentions

import (
	"strings"
	"testing"
)

var (
	evalState = map[string]float64{"energy.total_tokens": 1234, "peers.count": 0, "models.count": 1, "temp": -2.5}
	evalCtx   = map[string]string{"emotion": "Frustration", "mood": "", "level": "42", "flag": "no", "name": "O'Brien \"Bob\"", "on": "yes"}
)

func TestParseConditionCanonical(t *testing.T) {
	tests := []struct{ in, want string }{
		{"emotion=frustration", "emotion == frustration"},
		{"emotion == 'frustration'", `emotion == "frustration"`},
		{`a != "x y"`, `a != "x y"`},
		{"energy.total_tokens > 1000", "energy.total_tokens > 1000"},
		{"x>=-5", "x >= -5"},
		{"x <= 1e+3", "x <= 1e+3"},
		{"a && b || c", "a && b || c"},
		{"a || b && c", "a || b && c"},
		{"(a || b) || (c || d)", "a || b || c || d"},
		{"a && (b && c)", "a && b && c"},
		{"(a && b) || c", "a && b || c"},
		{"a and b and c", "a && b && c"},
		{"(a or b) and c", "(a || b) && c"},
		{"not a", "!a"},
		{"!!a", "!!a"},
		{"!x == 1", "!x == 1"},
		{"!(x == 1)", "!x == 1"},
		{"!(a || b) && c", "!(a || b) && c"},
		{"!(a && b)", "!(a && b)"},
		{"((a))", "a"},
		{"x == TRUE", "x == true"},
		{"x == 'true'", `x == "true"`},
		{`x == "a\"b\\c"`, `x == "a\"b\\c"`},
		{"x == ''", `x == ""`},
		{"x == \"and\"", `x == "and"`},
		{"_a.b_c.1 == v", "_a.b_c.1 == v"},
		{"émotion = colère", "émotion == colère"},
	}
	for _, tt := range tests {
		c, err := ParseCondition(tt.in)
		if err != nil {
			t.Errorf("ParseCondition(%q): %v", tt.in, err)
			continue
		}
		if got := c.String(); got != tt.want {
			t.Errorf("ParseCondition(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseConditionErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty"},
		{"   ", "empty"},
		{"emotion = = x", "expected a value"},
		{"x ==", "expected a value"},
		{"== x", "expected an identifier"},
		{"5 > x", "expected an identifier"},
		{"-x", "expected an identifier"},
		{"x y", "unexpected word"},
		{"(a", "expected )"},
		{"a)", "unexpected"},
		{"a && ", "expected an identifier"},
		{"a || || b", "expected an identifier"},
		{"x == 'open", "unterminated string"},
		{`x == "a\`, "unterminated string"},
		{"x == a; rm -rf /", "unexpected character"},
		{"x == $(id)", "unexpected character"},
		{"x & y", "unexpected character"},
		{"x == and", "expected a value"},
		{"not", "expected an identifier"},
		{"and", "expected an identifier"},
		{"x == \xff", "UTF-8"},
		{strings.Repeat("(", 33) + "a" + strings.Repeat(")", 33), "deeper than 32"},
		{strings.Repeat("!", 33) + "a", "deeper than 32"},
		{"a == " + strings.Repeat("b", 1000), "the limit is 1000"},
	}
	for _, tt := range tests {
		_, err := ParseCondition(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseCondition(%.40q): %v, want an error containing %q", tt.in, err, tt.want)
		}
	}
	// At the limits it parses.
	for _, ok := range []string{strings.Repeat("(", 32) + "a" + strings.Repeat(")", 32), strings.Repeat("!", 32) + "a"} {
		if _, err := ParseCondition(ok); err != nil {
			t.Errorf("depth 32 should parse: %v", err)
		}
	}
}

func TestConditionEval(t *testing.T) {
	tests := []struct {
		cond string
		want bool
	}{
		{"emotion=frustration", true}, // case-insensitive text
		{"emotion == anger", false},
		{"emotion != anger", true},
		{"emotion", true},
		{"mood", false},                         // present but empty
		{"flag", false},                         // "no" is false
		{"on", true},                            // "yes"
		{"peers.count", false},                  // 0
		{"models.count", true},                  // 1
		{"energy.total_tokens > 1000", true},    // state number
		{"energy.total_tokens > 1234", false},   //
		{"energy.total_tokens >= 1234", true},   //
		{"energy.total_tokens == 1234.0", true}, // numeric equality
		{"energy.total_tokens < 1e4", true},
		{"temp < -2", true},
		{"level > 40", true},     // context text that is a number compares numerically
		{"level == '42'", true},  // quoted numbers are numbers too
		{"emotion > 5", false},   // ordering needs numbers
		{"emotion < zzz", false}, // no string ordering
		{"unknown == 1", false},  // absent
		{"unknown != 1", true},   // absent
		{"unknown", false},       //
		{"!unknown", true},       //
		{"unknown > 0 || models.count", true},
		{"models.count == true", true},
		{"peers.count == false", true},
		{"on == true", true},
		{"flag != true", true},
		{"models.count > true", false},
		{`name == "o'brien \"bob\""`, true},
		{"emotion=frustration && energy.total_tokens > 1000", true},
		{"emotion=frustration && peers.count > 0", false},
		{"emotion=anger or peers.count < 1", true},
		{"not (emotion=frustration and models.count)", false},
		{"!emotion == anger", true},
	}
	for _, tt := range tests {
		c, err := ParseCondition(tt.cond)
		if err != nil {
			t.Errorf("parse %q: %v", tt.cond, err)
			continue
		}
		if got := c.Eval(evalState, evalCtx); got != tt.want {
			t.Errorf("%q = %v, want %v", tt.cond, got, tt.want)
		}
	}
	// State wins over context for the same name.
	c, _ := ParseCondition("x == 1")
	if !c.Eval(map[string]float64{"x": 1}, map[string]string{"x": "2"}) {
		t.Error("state should be looked up before context")
	}
	if c.Eval(nil, nil) {
		t.Error("nil maps: absent identifier compared equal")
	}
}

// FuzzParseCondition: parsing never panics, and a condition that parses prints as text
// that parses to the same condition (same text, same value).
func FuzzParseCondition(f *testing.F) {
	for _, s := range []string{
		"emotion=frustration", "energy.total_tokens > 1000 && !(peers.count >= 1)", "a || b && c",
		`x == "a\"b"`, "x == 'y'", "not not x", "((a))", "x != -1e+3", "a and b or not c", "x == TRUE",
		"", "(", "x ==", "x == 'unterminated", "émotion = colère", "x==y==z", "x.y.z", "a&&b||c",
		strings.Repeat("(", 40) + "a", "x == \"and\"", "x == +.5", "x = 0x10", "n == NaN",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		c, err := ParseCondition(src)
		if err != nil {
			return
		}
		text := c.String()
		again, err := parseCondition(text) // String may exceed the input length limit

		if err != nil {
			t.Fatalf("%q printed as %q, which does not parse: %v", src, text, err)
		}
		if again.String() != text {
			t.Fatalf("%q printed as %q, then as %q", src, text, again.String())
		}
		if c.Eval(evalState, evalCtx) != again.Eval(evalState, evalCtx) {
			t.Fatalf("%q and its printed form %q evaluate differently", src, text)
		}
	})
}
