package agents

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestCalculatorDocumentedExamples(t *testing.T) {
	for expr, want := range map[string]string{
		// The tool-calling guide's mortgage payment: $400,000 at 6.5% for 30 years.
		"(400000 * (0.065/12) * (1 + 0.065/12)^360) / ((1 + 0.065/12)^360 - 1)": "2528.272093971855",
		"50000 * (1.15 ^ 10)":  "202277.8867853955078125",
		"3100000000000 * 0.15": "465000000000",
		"50000 * 1.15 ** 10":   "202277.8867853955078125",
		"(1.8)^(1/3) - 1":      "0.21644039911468",
		"2 + 3 * 4":            "14",
		"(2 + 3) * 4":          "20",
		"2^3^2":                "512", // right-associative
		"-2^2":                 "-4",
		"10 / 4":               "2.5",
		"1 / 3":                "0.333333333333",
		"10^70 + 0.5":          "1.00000000000000e+70",
		"2 / 3":                "0.666666666667",
		"0.1 + 0.2":            "0.3", // exact, not 0.30000000000000004
		"sqrt(16)":             "4",
		"sqrt(2)":              "1.4142135623731",
		"abs(-7.5)":            "7.5",
		"log(1000)":            "3",
		"ln(e)":                "1",
		"sin(0) + cos(0)":      "1",
		"2 * pi":               "6.28318530717958",
		"$400,000 * 0.01":      "4000",
		"1e3 + 2.5E-1":         "1000.25",
		"7 % 3":                "1",
		"2^-2":                 "0.25",
		"-(-3)":                "3",
	} {
		got, err := Calculate(expr)
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		if got != want {
			t.Errorf("%s = %s, want %s", expr, got, want)
		}
	}
}

func TestCalculatorErrors(t *testing.T) {
	for expr, want := range map[string]string{
		"":                         "unexpected end",
		"1 +":                      "unexpected end",
		"(1 + 2":                   "missing )",
		"1 / 0":                    "division by zero",
		"sqrt(-1)":                 "negative",
		"foo(2)":                   "unknown name",
		"2 ^ 100000000":            "too large",
		"10 ^ 99999 ^ 99999":       "too large",
		"1 2":                      "unexpected",
		"__import__('os')":         "unknown name",
		"1; rm -rf /":              "unexpected",
		"ln(0)":                    "not positive",
		"(-8)^(1/3)":               "fractional power",
		strings.Repeat("(", 100):   "nested deeper",
		strings.Repeat("1+", 3000): "longer than",
		"1..2":                     "bad number",
		"1e999999999":              "out of range",
	} {
		_, err := Calculate(expr)
		var ce *CalcError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", truncate(expr, 30), err, want)
		}
	}
}

func TestCalculatorTool(t *testing.T) {
	v, err := CalculatorTool{}.Call(context.Background(), json.RawMessage(`{"expression":"50000 * (1.15 ^ 10)"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	if string(b) != `{"result":202277.8867853955078125}` {
		t.Fatalf("tool result %s", b)
	}
	if _, err := (CalculatorTool{}).Call(context.Background(), json.RawMessage(`{"expr":"1"}`)); err == nil {
		t.Fatal("missing expression accepted")
	}
}

func FuzzCalculator(f *testing.F) {
	for _, s := range []string{"(400000 * (0.065/12) * (1 + 0.065/12)^360) / ((1 + 0.065/12)^360 - 1)", "2^3^2", "sqrt(2)*pi", "1e308*1e308", "-(-(-1))", "$1,000.50 % 7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		got, err := Calculate(expr)
		if err != nil {
			var ce *CalcError
			if !errors.As(err, &ce) {
				t.Fatalf("%q: untyped error %v", expr, err)
			}
			return
		}
		if strings.Contains(got, "e+") {
			return // scientific: beyond 60 digits, not necessarily a readable literal
		}
		// A result is a decimal number that evaluates to itself.
		again, err := Calculate(got)
		if err != nil || again != got {
			t.Fatalf("%q = %q, which reads back as %q (%v)", expr, got, again, err)
		}
	})
}
