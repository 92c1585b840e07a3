package local

import (
	"math"
	"testing"

	"github.com/aria-node/aria/inference"
)

func logitsFixture() []float32 {
	return []float32{0.1, 2.0, 1.5, -1.0, 1.9, 0.0, 3.0, 2.9}
}

func samplingWith(f func(*inference.Sampling)) inference.Sampling {
	s := inference.DefaultSampling()
	s.RandomSeed = false
	s.Seed = 42
	f(&s)
	return s
}

func TestGreedyIsArgmax(t *testing.T) {
	s := newSampler(samplingWith(func(s *inference.Sampling) { s.Temperature = 0 }), nil)
	if got := s.sample(logitsFixture()); got != 6 {
		t.Fatalf("greedy picked %d, want 6", got)
	}
}

func TestTopKOneIsGreedy(t *testing.T) {
	s := newSampler(samplingWith(func(s *inference.Sampling) { s.TopK = 1 }), nil)
	for range 50 {
		if got := s.sample(logitsFixture()); got != 6 {
			t.Fatalf("top_k=1 picked %d", got)
		}
	}
}

func TestTopKRestrictsToK(t *testing.T) {
	s := newSampler(samplingWith(func(s *inference.Sampling) { s.TopK = 3; s.Temperature = 5 }), nil)
	seen := map[int32]bool{}
	for range 500 {
		seen[s.sample(logitsFixture())] = true
	}
	for tok := range seen {
		if tok != 6 && tok != 7 && tok != 1 {
			t.Fatalf("top_k=3 sampled token %d outside the top three", tok)
		}
	}
	if len(seen) != 3 {
		t.Fatalf("hot temperature should reach all three, saw %v", seen)
	}
}

func TestTopPSmallKeepsOnlyBest(t *testing.T) {
	s := newSampler(samplingWith(func(s *inference.Sampling) { s.TopP = 0.01 }), nil)
	for range 50 {
		if got := s.sample(logitsFixture()); got != 6 {
			t.Fatalf("top_p=0.01 picked %d", got)
		}
	}
}

func TestMinPFilters(t *testing.T) {
	// min_p 0.5 keeps tokens with p >= 0.5 p_max: at T=1, logits 3.0 and 2.9 only.
	s := newSampler(samplingWith(func(s *inference.Sampling) { s.MinP = 0.5 }), nil)
	for range 300 {
		if got := s.sample(logitsFixture()); got != 6 && got != 7 {
			t.Fatalf("min_p=0.5 picked %d", got)
		}
	}
}

func TestSeedDeterminism(t *testing.T) {
	draw := func(seed uint64) []int32 {
		s := newSampler(samplingWith(func(s *inference.Sampling) { s.Seed = seed; s.Temperature = 2 }), nil)
		var out []int32
		for range 40 {
			out = append(out, s.sample(logitsFixture()))
		}
		return out
	}
	a, b, c := draw(7), draw(7), draw(8)
	if !equal(a, b) {
		t.Fatal("same seed gave different draws")
	}
	if equal(a, c) {
		t.Fatal("different seeds gave identical 40-token draws")
	}
}

func TestSampleFrequenciesFollowSoftmax(t *testing.T) {
	logits := []float32{0, float32(math.Log(3))} // p = 0.25, 0.75
	s := newSampler(samplingWith(func(s *inference.Sampling) {}), nil)
	n1 := 0
	const n = 20000
	for range n {
		l := append([]float32(nil), logits...)
		if s.sample(l) == 1 {
			n1++
		}
	}
	if f := float64(n1) / n; f < 0.73 || f > 0.77 {
		t.Fatalf("token 1 drawn with frequency %.3f, want ~0.75", f)
	}
}

func TestPenalties(t *testing.T) {
	// Token 6 (logit 3.0) appears in the prompt; a presence penalty of 2 drops it to
	// 1.0, below token 7 (2.9), so greedy moves to 7.
	s := newSampler(samplingWith(func(s *inference.Sampling) { s.Temperature = 0; s.PresencePenalty = 2 }), []int32{6})
	if got := s.sample(logitsFixture()); got != 7 {
		t.Fatalf("presence penalty: picked %d, want 7", got)
	}
	// Frequency penalty scales with the count: two 6s and two 7s, 0.6 each.
	s = newSampler(samplingWith(func(s *inference.Sampling) { s.Temperature = 0; s.FrequencyPenalty = 0.6 }), []int32{6, 6, 7, 7})
	if got := s.sample(logitsFixture()); got != 1 { // 6: 1.8, 7: 1.7, 1: 2.0, 4: 1.9
		t.Fatalf("frequency penalty: picked %d, want 1", got)
	}
	// Repeat penalty divides positive logits: 3.0/2 = 1.5 < 2.9.
	s = newSampler(samplingWith(func(s *inference.Sampling) { s.Temperature = 0; s.RepeatPenalty = 2 }), []int32{6})
	if got := s.sample(logitsFixture()); got != 7 {
		t.Fatalf("repeat penalty: picked %d, want 7", got)
	}
	// The window forgets tokens older than RepeatLastN.
	s = newSampler(samplingWith(func(s *inference.Sampling) { s.Temperature = 0; s.PresencePenalty = 2; s.RepeatLastN = 2 }), []int32{6, 1, 1})
	if got := s.sample(logitsFixture()); got != 6 {
		t.Fatalf("penalty window: picked %d, want 6 (out of the window)", got)
	}
}

func equal(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
