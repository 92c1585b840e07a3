package rag_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/aria-node/aria/rag"
	"github.com/aria-node/aria/storage/bolt"
)

func openDB(t testing.TB, path string) *bbolt.DB {
	t.Helper()
	db, err := bolt.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newStore(t testing.TB) rag.Store {
	t.Helper()
	s, err := bolt.NewRAGStore(openDB(t, filepath.Join(t.TempDir(), "aria.db")))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var corpus = []string{
	"Reciprocal rank fusion merges the keyword ranking and the vector ranking into one list.",
	"The ternary kernel reads packed weights and multiplies them with AVX2 instructions.",
	"Every tenant owns its collections; another tenant's collection answers not found.",
	"Photosynthesis converts sunlight, water and carbon dioxide into sugar in plants.",
	"A consent contract limits when the node accepts work from peers and how much CPU it may use.",
}

func ingestCorpus(t *testing.T, s *rag.Service, tenant, coll string) []rag.IngestResult {
	t.Helper()
	var out []rag.IngestResult
	for i, c := range corpus {
		r, err := s.Ingest(context.Background(), tenant, rag.IngestRequest{Collection: coll, Content: c,
			Metadata: []byte(fmt.Sprintf(`{"n":%d}`, i))})
		must(t, err)
		out = append(out, r)
	}
	return out
}

func TestIngestAndSearchEveryStrategy(t *testing.T) {
	s := rag.New(newStore(t), rag.Options{})
	res := ingestCorpus(t, s, "t1", "docs")
	if res[0].Created != 1 || len(res[0].ChunkIDs) != 1 || !strings.HasPrefix(res[0].ChunkIDs[0], "doc_") || !strings.HasPrefix(res[0].DocumentID, "src_") {
		t.Fatalf("ingest result %+v", res[0])
	}
	for _, tc := range []struct{ strategy, query string }{
		{rag.BM25, "ternary kernel weights"},
		{rag.Semantic, "ternary kernel weights"},
		{rag.Hybrid, "ternary kernel weights"},
		{rag.Fuzzy, "ternery kernal wieghts"},
	} {
		resp, err := s.Search(context.Background(), "t1", rag.SearchRequest{Collection: "docs", Query: tc.query, Strategy: tc.strategy, TopK: 3})
		must(t, err)
		if len(resp.Results) == 0 || resp.Results[0].DocumentID != res[1].DocumentID {
			t.Fatalf("%s %q: %+v", tc.strategy, tc.query, resp.Results)
		}
		top := resp.Results[0]
		if top.ID != res[1].ChunkIDs[0] || top.Content != corpus[1] || string(top.Metadata) != `{"n":1}` || top.Score <= 0 || top.Collection != "docs" {
			t.Fatalf("%s: top result %+v", tc.strategy, top)
		}
		if len(resp.Results) > 3 || resp.Rerank != "" {
			t.Fatalf("%s: %d results, rerank %q", tc.strategy, len(resp.Results), resp.Rerank)
		}
		for i := 1; i < len(resp.Results); i++ {
			if resp.Results[i].Score > resp.Results[i-1].Score {
				t.Fatalf("%s: not ranked: %+v", tc.strategy, resp.Results)
			}
		}
	}
}

func TestReingestIsIdempotent(t *testing.T) {
	st := newStore(t)
	s := rag.New(st, rag.Options{})
	ctx := context.Background()
	long := strings.Repeat("alpha beta gamma delta epsilon. ", 100)
	first, err := s.Ingest(ctx, "t1", rag.IngestRequest{Collection: "c", Content: long, Strategy: "sentence"})
	must(t, err)
	again, err := s.Ingest(ctx, "t1", rag.IngestRequest{Collection: "c", Content: long, Strategy: "sentence", Metadata: []byte(`{"x":1}`)})
	must(t, err)
	if !again.Duplicate || again.Created != 0 || !slices.Equal(again.ChunkIDs, first.ChunkIDs) || again.DocumentID != first.DocumentID {
		t.Fatalf("re-ingest %+v, first %+v", again, first)
	}
	c, err := st.Collection(ctx, "t1", "c")
	must(t, err)
	if c.Documents != 1 || c.Chunks != first.Created || first.Created < 2 {
		t.Fatalf("collection after re-ingest %+v (first created %d)", c, first.Created)
	}
}

func TestChunkingIsPerCollection(t *testing.T) {
	st := newStore(t)
	s := rag.New(st, rag.Options{})
	ctx := context.Background()
	size, overlap := 10, 2
	text := strings.Repeat("word ", 50)
	r, err := s.Ingest(ctx, "t1", rag.IngestRequest{Collection: "small", Content: text, ChunkSize: &size, ChunkOverlap: &overlap})
	must(t, err)
	if r.Created != 6 { // windows of 10 sliding by 8 over 50 words: starts 0,8,...,40
		t.Fatalf("created %d chunks, want 6", r.Created)
	}
	// Later ingests use the collection's chunking; a different one is a conflict.
	r2, err := s.Ingest(ctx, "t1", rag.IngestRequest{Collection: "small", Content: text + " more"})
	must(t, err)
	if r2.Created != 7 { // 51 words: starts 0,8,...,48
		t.Fatalf("second ingest made %d chunks, want 7 (the collection's chunking)", r2.Created)
	}
	other := 20
	_, err = s.Ingest(ctx, "t1", rag.IngestRequest{Collection: "small", Content: "new text", ChunkSize: &other})
	if !errors.Is(err, rag.ErrConflict) {
		t.Fatalf("a different chunk_size: %v", err)
	}
	c, _ := st.Collection(ctx, "t1", "small")
	if c.Chunking != (rag.ChunkConfig{Size: 10, Overlap: 2}) {
		t.Fatalf("chunking %+v", c.Chunking)
	}
}

// hashEmbedder is another vector space: 8 dimensions of hashed words.
type hashEmbedder struct{}

func (hashEmbedder) Name() string { return "test-hash8" }
func (hashEmbedder) Embed(ctx context.Context, text string) ([]float32, error) {
	v := make([]float32, 8)
	for _, w := range rag.Analyze(text) {
		h := fnv.New32a()
		h.Write([]byte(w))
		v[h.Sum32()%8]++
	}
	return v, nil
}

func TestEmbedderChangeReembeds(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	ingestCorpus(t, rag.New(st, rag.Options{}), "t1", "docs")
	c, _ := st.Collection(ctx, "t1", "docs")
	if c.Embedder != rag.New(st, rag.Options{}).EmbedderName() || c.Dim != 1024 {
		t.Fatalf("collection embedded by %q in %d dims", c.Embedder, c.Dim)
	}
	// The node now embeds with another model: searching re-embeds the collection
	// instead of comparing vectors of two spaces.
	s2 := rag.New(st, rag.Options{Embedder: hashEmbedder{}})
	resp, err := s2.Search(ctx, "t1", rag.SearchRequest{Collection: "docs", Query: "photosynthesis sunlight plants", Strategy: rag.Semantic, TopK: 1})
	must(t, err)
	if len(resp.Results) != 1 || !strings.HasPrefix(resp.Results[0].Content, "Photosynthesis") {
		t.Fatalf("after re-embedding: %+v", resp.Results)
	}
	c, chunks, err := st.Load(ctx, "t1", "docs")
	must(t, err)
	if c.Embedder != "test-hash8" || c.Dim != 8 || len(chunks[0].Vector) != 8 {
		t.Fatalf("collection now %q/%d, vector %d", c.Embedder, c.Dim, len(chunks[0].Vector))
	}
	// And ingesting with the new embedder works (no mixed spaces).
	_, err = s2.Ingest(ctx, "t1", rag.IngestRequest{Collection: "docs", Content: "A new document about sunlight."})
	must(t, err)
}

// reverseReranker scores passages by their position, reversed.
type reverseReranker struct{}

func (reverseReranker) Name() string { return "test-reverse" }
func (reverseReranker) Rerank(ctx context.Context, q string, ps []string) ([]float64, error) {
	out := make([]float64, len(ps))
	for i := range ps {
		out[i] = float64(i)
	}
	return out, nil
}

func TestRerank(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	ingestCorpus(t, rag.New(st, rag.Options{}), "t1", "docs")
	req := rag.SearchRequest{Collection: "docs", Query: "tenant collection kernel weights node", Strategy: rag.BM25, TopK: 2, Rerank: true}
	plain, err := rag.New(st, rag.Options{}).Search(ctx, "t1", req)
	must(t, err)
	if plain.Rerank != rag.RerankUnsupported || len(plain.Results) != 2 {
		t.Fatalf("without a reranker: %q, %d results", plain.Rerank, len(plain.Results))
	}
	req.Rerank = false
	all, err := rag.New(st, rag.Options{}).Search(ctx, "t1", rag.SearchRequest{Collection: "docs", Query: req.Query, Strategy: rag.BM25, TopK: 20})
	must(t, err)
	req.Rerank = true
	rr, err := rag.New(st, rag.Options{Reranker: reverseReranker{}}).Search(ctx, "t1", req)
	must(t, err)
	if rr.Rerank != "test-reverse" || len(rr.Results) != 2 || rr.Results[0].ID != all.Results[len(all.Results)-1].ID {
		t.Fatalf("reranked %+v; candidates %+v", rr, all.Results)
	}
}

// A second service on the same store (another gateway on one PostgreSQL) sees the
// first one's writes: the cache follows the collection's version.
func TestCacheFollowsWrites(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	a, b := rag.New(st, rag.Options{}), rag.New(st, rag.Options{})
	ingestCorpus(t, a, "t1", "docs")
	q := rag.SearchRequest{Collection: "docs", Query: "volcano eruption", Strategy: rag.BM25, TopK: 5}
	for _, s := range []*rag.Service{a, b} {
		resp, err := s.Search(ctx, "t1", q)
		must(t, err)
		if len(resp.Results) != 0 {
			t.Fatalf("before: %+v", resp.Results)
		}
	}
	_, err := a.Ingest(ctx, "t1", rag.IngestRequest{Collection: "docs", Content: "The volcano eruption covered the town in ash."})
	must(t, err)
	for name, s := range map[string]*rag.Service{"writer": a, "other": b} {
		resp, err := s.Search(ctx, "t1", q)
		must(t, err)
		if len(resp.Results) != 1 {
			t.Fatalf("%s after the write: %+v", name, resp.Results)
		}
	}
	must(t, b.Delete(ctx, "t1", "docs"))
	if _, err := a.Search(ctx, "t1", q); !errors.Is(err, rag.ErrNotFound) {
		t.Fatalf("search of a deleted collection: %v", err)
	}
}

func TestRetrieveBudget(t *testing.T) {
	s := rag.New(newStore(t), rag.Options{})
	ctx := context.Background()
	ingestCorpus(t, s, "t1", "a")
	_, err := s.Ingest(ctx, "t1", rag.IngestRequest{Collection: "b", Content: "Sunlight drives photosynthesis in green plants every day."})
	must(t, err)
	ps, err := s.Retrieve(ctx, "t1", []string{"a", "b", "missing"}, "photosynthesis sunlight plants", 1000)
	must(t, err)
	cols := map[string]bool{}
	for i, p := range ps {
		cols[p.Collection] = true
		if i > 0 && p.Score > ps[i-1].Score {
			t.Fatalf("not by score: %+v", ps)
		}
	}
	if len(ps) < 2 || !cols["a"] || !cols["b"] || !strings.Contains(ps[0].Content+ps[1].Content, "hotosynthesis") {
		t.Fatalf("passages %+v", ps)
	}
	small, err := s.Retrieve(ctx, "t1", []string{"a", "b"}, "photosynthesis sunlight plants", 5)
	must(t, err)
	if len(small) != 1 || len(small[0].Content) > 20 {
		t.Fatalf("a 5-token budget gave %+v", small)
	}
	other, err := s.Retrieve(ctx, "t2", []string{"a", "b"}, "photosynthesis", 1000)
	must(t, err)
	if len(other) != 0 {
		t.Fatalf("another tenant retrieved %+v", other)
	}
}

func TestBadInput(t *testing.T) {
	s := rag.New(newStore(t), rag.Options{})
	ctx := context.Background()
	ingestCorpus(t, s, "t1", "docs")
	zero, big := 0, 10000
	for _, tc := range []struct {
		name  string
		req   rag.IngestRequest
		field string
	}{
		{"empty content", rag.IngestRequest{Collection: "docs", Content: "  \n"}, "content"},
		{"binary content", rag.IngestRequest{Collection: "docs", Content: "PK\x03\x04\x00\x00binary"}, "content"},
		{"invalid utf-8", rag.IngestRequest{Collection: "docs", Content: "abc\xff\xfe"}, "content"},
		{"replacement characters", rag.IngestRequest{Collection: "docs", Content: strings.Repeat("\uFFFD", 10) + "ab"}, "content"},
		{"path in collection", rag.IngestRequest{Collection: "../etc/passwd", Content: "x"}, "collection"},
		{"slash in collection", rag.IngestRequest{Collection: "a/b", Content: "x"}, "collection"},
		{"no collection", rag.IngestRequest{Content: "x"}, "collection"},
		{"unknown chunking", rag.IngestRequest{Collection: "new", Content: "x y", Strategy: "tokens"}, "chunking_strategy"},
		{"chunk size 0", rag.IngestRequest{Collection: "new", Content: "x y", ChunkSize: &zero}, "chunk_size"},
		{"chunk size huge", rag.IngestRequest{Collection: "new", Content: "x y", ChunkSize: &big}, "chunk_size"},
		{"metadata not an object", rag.IngestRequest{Collection: "new", Content: "x y", Metadata: []byte(`[1]`)}, "metadata"},
		{"content over the limit", rag.IngestRequest{Collection: "new", Content: strings.Repeat("a ", rag.MaxContentBytes/2+1)}, "content"},
	} {
		_, err := s.Ingest(ctx, "t1", tc.req)
		var ve *rag.ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field {
			t.Errorf("%s: %v, want a validation error on %s", tc.name, err, tc.field)
		}
	}
	for _, tc := range []struct {
		name  string
		req   rag.SearchRequest
		field string
	}{
		{"unknown strategy", rag.SearchRequest{Collection: "docs", Query: "x", Strategy: "magic", TopK: 5}, "strategy"},
		{"top_k 0", rag.SearchRequest{Collection: "docs", Query: "x", TopK: 0}, "top_k"},
		{"top_k 10000", rag.SearchRequest{Collection: "docs", Query: "x", TopK: 10000}, "top_k"},
		{"empty query", rag.SearchRequest{Collection: "docs", Query: " ", TopK: 5}, "query"},
		{"binary query", rag.SearchRequest{Collection: "docs", Query: "a\x00b", TopK: 5}, "query"},
	} {
		_, err := s.Search(ctx, "t1", tc.req)
		var ve *rag.ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field {
			t.Errorf("%s: %v, want a validation error on %s", tc.name, err, tc.field)
		}
	}
	// Nothing of the refused ingests is visible.
	list, err := s.Collections(ctx, "t1")
	must(t, err)
	if len(list) != 1 || list[0].Documents != len(corpus) {
		t.Fatalf("collections after bad input: %+v", list)
	}
}
