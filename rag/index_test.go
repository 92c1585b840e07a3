package rag

import (
	"math"
	"math/rand/v2"
	"testing"
)

func tf(pairs ...any) []TermFreq {
	var out []TermFreq
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, TermFreq{pairs[i].(string), pairs[i+1].(int)})
	}
	return out
}

// Three chunks: lengths 3, 4 and 1 (avgdl 8/3). Scores by hand, with k1 1.2, b 0.75
// and idf = ln(1 + (N-df+0.5)/(df+0.5)):
//
//	idf(apple) = idf(banana) = ln(1 + 1.5/2.5) = ln 1.6 = 0.470004; idf(date) = ln(1 + 2.5/1.5) = 0.980829
//	chunk 0, "apple banana": 0.470004·2·2.2/(2+1.2·(0.25+0.75·3/(8/3))) + 0.470004·2.2/(1+1.3125) = 1.071445
//	chunk 2: 0.470004·2.2/(1+1.2·(0.25+0.75·1/(8/3))) = 0.631455
//	chunk 1: 0.470004·2.2/(1+1.2·(0.25+0.75·4/(8/3))) = 0.390192
//	chunk 1, "date" (tf 2): 0.980829·2·2.2/(2+1.65) = 1.182370
func TestBM25HandComputed(t *testing.T) {
	ix := buildIndex(Collection{}, []Chunk{
		{Terms: tf("apple", 2, "banana", 1)},
		{Terms: tf("apple", 1, "cherry", 1, "date", 2)},
		{Terms: tf("banana", 1)},
	})
	check := func(query []string, want []hit) {
		t.Helper()
		got := ix.bm25(exactWeights(query), 10)
		if len(got) != len(want) {
			t.Fatalf("%v: %v, want %v", query, got, want)
		}
		for i := range want {
			if got[i].chunk != want[i].chunk || math.Abs(got[i].score-want[i].score) > 1e-6 {
				t.Fatalf("%v: rank %d is %+v, want %+v", query, i, got[i], want[i])
			}
		}
	}
	check([]string{"apple", "banana"}, []hit{{0, 1.071445}, {2, 0.631455}, {1, 0.390192}})
	check([]string{"date"}, []hit{{1, 1.182370}})
	check([]string{"nothing"}, nil)
	if got := ix.bm25(exactWeights([]string{"apple", "banana"}), 2); len(got) != 2 || got[1].chunk != 2 {
		t.Fatalf("top 2: %v", got)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{
		{"retrieval", "retreival", 1}, {"kitten", "sitting", 3}, {"abc", "abc", 0}, {"", "ab", 2},
		{"search", "serach", 1}, {"search", "sarch", 1}, {"search", "searches", 2}, {"ab", "ba", 1},
	} {
		if got := editDistance([]rune(tc.a), []rune(tc.b), 5); got != tc.d {
			t.Errorf("distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.d)
		}
	}
	if got := editDistance([]rune("kitten"), []rune("sitting"), 1); got != 2 {
		t.Errorf("capped distance %d, want 2 (maxd+1)", got)
	}
}

func TestFuzzyTypoRecall(t *testing.T) {
	docs := []string{
		"Reciprocal rank fusion merges keyword and vector retrieval results.",
		"The kernel decodes ternary weights with AVX2 instructions.",
		"Tenants own their collections; another tenant's collection is not found.",
		"Photosynthesis converts sunlight into chemical energy in plants.",
	}
	var chunks []Chunk
	for _, d := range docs {
		chunks = append(chunks, Chunk{Content: d, Terms: termFreqs(d)})
	}
	ix := buildIndex(Collection{}, chunks)
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"retreival fusoin", 0},       // swapped letters
		{"ternery kernal", 1},         // substituted letters
		{"colections tennants", 2},    // dropped and doubled letters
		{"photosynthesys sunlite", 3}, // misspellings
	} {
		if exact := ix.bm25(exactWeights(Analyze(tc.query)), 1); len(exact) > 0 {
			t.Fatalf("%q matches exactly; the test needs typos", tc.query)
		}
		got := ix.bm25(ix.fuzzyWeights(Analyze(tc.query)), 1)
		if len(got) == 0 || got[0].chunk != tc.want {
			t.Errorf("fuzzy %q: %v, want chunk %d first", tc.query, got, tc.want)
		}
	}
	// Short words are matched exactly only: "cat" must not find "car".
	ix2 := buildIndex(Collection{}, []Chunk{{Terms: termFreqs("car")}})
	if got := ix2.bm25(ix2.fuzzyWeights([]string{"cat"}), 1); len(got) != 0 {
		t.Errorf("cat matched car: %v", got)
	}
}

func TestFuse(t *testing.T) {
	a := []hit{{1, 9}, {2, 8}, {3, 7}}
	b := []hit{{3, 0.9}, {4, 0.8}, {1, 0.1}}
	got := fuse(10, a, b)
	// 1: 1/61+1/63, 3: 1/63+1/61 (tie, chunk 1 first), 2: 1/62, 4: 1/62.
	want := []int{1, 3, 2, 4}
	if len(got) != 4 {
		t.Fatalf("%v", got)
	}
	for i, c := range want {
		if got[i].chunk != c {
			t.Fatalf("fused %v, want order %v", got, want)
		}
	}
	if math.Abs(got[0].score-(1.0/61+1.0/63)) > 1e-12 || math.Abs(got[2].score-1.0/62) > 1e-12 {
		t.Fatalf("scores %v", got)
	}
	if got := fuse(2, a, b); len(got) != 2 {
		t.Fatalf("k=2: %v", got)
	}
}

func TestSemanticRanksByCosine(t *testing.T) {
	ix := buildIndex(Collection{Dim: 3}, []Chunk{
		{Vector: []float32{1, 0, 0}},
		{Vector: []float32{1, 1, 0}},
		{Vector: []float32{0, 0, 5}},
		{Vector: []float32{-1, 0, 0}},
		{Vector: []float32{0, 0, 0}},
	})
	got := ix.semantic([]float32{2, 0.1, 0}, 10)
	if len(got) != 2 || got[0].chunk != 0 || got[1].chunk != 1 {
		t.Fatalf("%v", got)
	}
	if want := 2 / math.Sqrt(4.01); math.Abs(got[0].score-want) > 1e-5 {
		t.Fatalf("cosine %v, want %v", got[0].score, want)
	}
	if got := ix.semantic([]float32{0, 0, 0}, 10); got != nil {
		t.Fatalf("a zero query ranked %v", got)
	}
	if got := ix.semantic([]float32{1, 0}, 10); got != nil {
		t.Fatalf("a query of the wrong length ranked %v", got)
	}
}

// The sparse path (few nonzero query dimensions) ranks exactly as the dense one.
func TestSemanticSparseQueryMatchesDense(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const dim = 64
	var chunks []Chunk
	for range 200 {
		v := make([]float32, dim)
		for j := range v {
			v[j] = r.Float32()
		}
		chunks = append(chunks, Chunk{Vector: v})
	}
	ix := buildIndex(Collection{Dim: dim}, chunks)
	sparse := make([]float32, dim)
	sparse[3], sparse[40] = 0.5, 1
	dense := append([]float32(nil), sparse...)
	dense[7] = 1e-30 // nonzero everywhere would be dense; one tiny value keeps the ranking
	for j := range dense {
		if dense[j] == 0 {
			dense[j] = 1e-30
		}
	}
	a, b := ix.semantic(sparse, 10), ix.semantic(dense, 10)
	if len(a) != 10 || len(b) != 10 {
		t.Fatalf("%d and %d hits", len(a), len(b))
	}
	for i := range a {
		if a[i].chunk != b[i].chunk || math.Abs(a[i].score-b[i].score) > 1e-5 {
			t.Fatalf("rank %d: sparse %+v dense %+v", i, a[i], b[i])
		}
	}
}

func TestDotMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 3, 4, 7, 1024, 1537} {
		a, b := make([]float32, n), make([]float32, n)
		var want float64
		for i := range a {
			a[i], b[i] = r.Float32()-0.5, r.Float32()-0.5
			want += float64(a[i]) * float64(b[i])
		}
		if got := dot(a, b); math.Abs(float64(got)-want) > 1e-3 {
			t.Errorf("n=%d: dot %v, want %v", n, got, want)
		}
	}
}
