package inference

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestRequestLimits(t *testing.T) {
	ok := func() Request {
		return Request{Model: "m", MaxTokens: 8, Sampling: DefaultSampling(), Messages: []Message{{Role: "user", Content: "hi"}}}
	}
	many := make([]Message, MaxMessages+1)
	for i := range many {
		many[i] = Message{Role: "user", Content: "x"}
	}
	for _, tc := range []struct {
		name  string
		mod   func(*Request)
		field string
	}{
		{"too many messages", func(r *Request) { r.Messages = many }, "messages"},
		{"contents over 1 MiB", func(r *Request) {
			r.Messages = []Message{{Role: "user", Content: strings.Repeat("a", MaxContentBytes/2)}, {Role: "user", Content: strings.Repeat("b", MaxContentBytes/2+1)}}
		}, "messages"},
		{"prompt over 1 MiB", func(r *Request) { r.Messages = nil; r.Prompt = strings.Repeat("a", MaxContentBytes+1) }, "messages"},
		{"17 stops", func(r *Request) { r.Stop = make([]string, MaxStops+1) }, "stop"},
		{"long stop", func(r *Request) { r.Stop = []string{strings.Repeat("s", MaxStopBytes+1)} }, "stop"},
		{"temperature 1e308", func(r *Request) { big := 1e308; r.Sampling.Temperature = float32(big) }, "temperature"},
		{"temperature 2.5", func(r *Request) { r.Sampling.Temperature = 2.5 }, "temperature"},
		{"top_p NaN", func(r *Request) { r.Sampling.TopP = float32(math.NaN()) }, "top_p"},
	} {
		r := ok()
		tc.mod(&r)
		err := r.Validate()
		var ie *InvalidError
		if !errors.As(err, &ie) || ie.Field != tc.field {
			t.Errorf("%s: got %v, want an invalid %q", tc.name, err, tc.field)
		}
	}
	r := ok()
	r.Messages = many[:MaxMessages]
	r.Stop = make([]string, MaxStops)
	for i := range r.Stop {
		r.Stop[i] = "s"
	}
	if err := r.Validate(); err != nil {
		t.Fatalf("a request at the limits was refused: %v", err)
	}
}
