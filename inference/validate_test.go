package inference

import (
	"errors"
	"testing"
)

func sampled(f func(*Sampling)) Sampling {
	s := DefaultSampling()
	f(&s)
	return s
}

func TestSamplingValidation(t *testing.T) {
	bad := []func(*Sampling){
		func(s *Sampling) { s.Temperature = -0.1 },
		func(s *Sampling) { s.TopP = 0 },
		func(s *Sampling) { s.TopP = 1.5 },
		func(s *Sampling) { s.TopK = -1 },
		func(s *Sampling) { s.MinP = 1 },
		func(s *Sampling) { s.PresencePenalty = 3 },
		func(s *Sampling) { s.FrequencyPenalty = -3 },
		func(s *Sampling) { s.RepeatPenalty = 0 },
	}
	for i, f := range bad {
		if err := sampled(f).Validate(); err == nil {
			t.Errorf("case %d: accepted", i)
		}
	}
	if err := DefaultSampling().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestRequestValidate(t *testing.T) {
	ok := Request{Model: "m", Prompt: "hi", MaxTokens: 4, Sampling: DefaultSampling()}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(*Request){
		"max_tokens": func(r *Request) { r.MaxTokens = 0 },
		"top_p":      func(r *Request) { r.Sampling.TopP = 0 },
		"prompt":     func(r *Request) { r.Prompt = "" },
		"messages":   func(r *Request) { r.Prompt = ""; r.Messages = []Message{{Role: "tool", Content: "x"}} },
	}
	for field, f := range cases {
		r := ok
		f(&r)
		err := r.Validate()
		var ie *InvalidError
		if !errors.As(err, &ie) || ie.Field != field || !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%s: got %v", field, err)
		}
	}
	r := ok
	r.Prompt, r.Messages = "", []Message{}
	if err := r.Validate(); err == nil {
		t.Error("empty messages accepted")
	}
}
