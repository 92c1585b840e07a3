package consent

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"
)

// FuzzParseConfig: any bytes either fail with an error or give a valid contract that survives a JSON round trip.
func FuzzParseConfig(f *testing.F) {
	example, err := os.ReadFile("testdata/consent.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{string(example), `{}`, `{"cpu_percent": 0}`, `{"days": ["Monday"]}`, `[`, `{"x": 1}`, `{} []`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseConfig("fuzz", data)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("parseConfig returned an invalid contract: %v", err)
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseConfig("round trip", out)
		if err != nil {
			t.Fatalf("round trip of %s: %v", out, err)
		}
		if !reflect.DeepEqual(c, again) {
			t.Fatalf("round trip changed the contract:\n%+v\n%+v", c, again)
		}
	})
}

// FuzzSchedule: a schedule that parses prints canonically, re-parses to itself, and NextOpen finds an open
// instant no later than it promises.
func FuzzSchedule(f *testing.F) {
	for _, seed := range []string{"09:00-17:00", "22:00-06:00", "0:00-24:00", "9:5-10:00", "23:59-00:00", "-", ""} {
		f.Add(seed, int64(1795000000))
	}
	f.Fuzz(func(t *testing.T, s string, unix int64) {
		w, ok, err := parseSchedule(s)
		if err != nil || !ok {
			return
		}
		w2, ok2, err2 := parseSchedule(w.String())
		if err2 != nil || !ok2 || w2 != w {
			t.Fatalf("%q -> %q -> %+v, %v", s, w.String(), w2, err2)
		}
		c := Contract{Schedule: s, Timezone: "America/New_York", Days: []string{"wed"}}
		from := time.Unix(unix%(1<<34), 0)
		next := c.NextOpen(from)
		if next.IsZero() {
			t.Fatalf("%q from %v: never opens", s, from)
		}
		if ok, r := c.InWindow(next); !ok || next.Before(from) {
			t.Fatalf("%q from %v: NextOpen %v is not open (%s)", s, from, next, r.Message)
		}
	})
}

// FuzzClassify: any text classifies deterministically and never as embedding.
func FuzzClassify(f *testing.F) {
	for _, seed := range []string{"```", "translate to python", "tl;dr", "c++", "what is x in french?", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Classify(s)
		if got == Embedding || got != Classify(s) {
			t.Fatalf("Classify(%q) = %s", s, got)
		}
		if _, err := ParseTaskType(string(got)); err != nil {
			t.Fatal(err)
		}
	})
}
