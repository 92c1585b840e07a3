package rag_test

// Benchmarks behind the README's RAG figures. Timings are reported, never asserted.
//
//	go test -run '^$' -bench 'RAGIngest' -benchtime 200x ./rag/
//	go test -run '^$' -bench 'RAGSearch' -benchtime 300x -timeout 60m ./rag/
//	go test -run '^$' -bench 'Dot' ./rag/

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/aria-node/aria/rag"
	"github.com/aria-node/aria/storage/bolt"
)

// vocab is a deterministic vocabulary of word-like strings; words are drawn from it
// with a Zipf distribution, as in natural text.
var vocab = func() []string {
	r := rand.New(rand.NewPCG(7, 7))
	const letters = "etaoinshrdlcumwfgypbvkjxqz"
	seen := map[string]bool{}
	var out []string
	for len(out) < 30000 {
		n := 3 + r.IntN(8)
		b := make([]byte, n)
		for i := range b {
			b[i] = letters[min(int(r.ExpFloat64()*6), len(letters)-1)]
		}
		if w := string(b); !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}()

type textGen struct {
	z *rand.Zipf
	r *rand.Rand
}

func newTextGen(seed uint64) *textGen {
	r := rand.New(rand.NewPCG(seed, 1))
	return &textGen{z: rand.NewZipf(r, 1.1, 2, uint64(len(vocab)-1)), r: r}
}

func (g *textGen) words(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(vocab[g.z.Uint64()])
		if i%15 == 14 {
			b.WriteByte('.')
		}
	}
	return b.String()
}

// noEmbedder stands for "without embeddings": a constant one-dimensional vector.
type noEmbedder struct{}

func (noEmbedder) Name() string { return "none" }
func (noEmbedder) Embed(context.Context, string) ([]float32, error) {
	return []float32{1}, nil
}

const benchChunkWords = 100

var chunkCfg = func() *int { n := benchChunkWords; return &n }()
var noOverlap = func() *int { n := 0; return &n }()

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// BenchmarkRAGIngest: documents of 10 chunks of 100 words into bbolt, one transaction
// per document; chunks/s with the lexical embedder and without embeddings.
func BenchmarkRAGIngest(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts rag.Options
	}{{"embeddings=none", rag.Options{Embedder: noEmbedder{}}}, {"embeddings=lexical", rag.Options{}}} {
		b.Run(tc.name, func(b *testing.B) {
			dir := b.TempDir()
			db, err := bolt.Open(context.Background(), filepath.Join(dir, "aria.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			st, _ := bolt.NewRAGStore(db)
			tc.opts.Logger = quiet()
			s := rag.New(st, tc.opts)
			g := newTextGen(1)
			docs := make([]string, b.N)
			for i := range docs {
				docs[i] = g.words(10 * benchChunkWords)
			}
			b.ResetTimer()
			start := time.Now()
			chunks := 0
			for i := 0; i < b.N; i++ {
				r, err := s.Ingest(context.Background(), "t", rag.IngestRequest{Collection: "bench", Content: docs[i], ChunkSize: chunkCfg, ChunkOverlap: noOverlap})
				if err != nil {
					b.Fatal(err)
				}
				chunks += r.Created
			}
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(chunks)/el.Seconds(), "chunks/s")
			b.ReportMetric(float64(ragBytes(b, db))/float64(chunks), "disk-bytes/chunk")
		})
	}
}

// A collection of n chunks in bbolt, built once per size per run.
var (
	collMu sync.Mutex
	colls  = map[int]*benchColl{}
)

type benchColl struct {
	st        rag.Store
	path      string
	ingestDur time.Duration
}

func collection(b *testing.B, n int) *benchColl {
	collMu.Lock()
	defer collMu.Unlock()
	if c := colls[n]; c != nil {
		return c
	}
	dir, err := os.MkdirTemp("", "aria-rag-bench-")
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, "aria.db")
	db, err := bolt.Open(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	st, _ := bolt.NewRAGStore(db)
	s := rag.New(st, rag.Options{Logger: quiet()})
	g := newTextGen(2)
	start := time.Now()
	const perDoc = 50
	for i := 0; i < n; i += perDoc {
		if _, err := s.Ingest(context.Background(), "t", rag.IngestRequest{Collection: "bench", Content: g.words(perDoc * benchChunkWords),
			ChunkSize: chunkCfg, ChunkOverlap: noOverlap}); err != nil {
			b.Fatal(err)
		}
	}
	c := &benchColl{st: st, path: path, ingestDur: time.Since(start)}
	fi, _ := os.Stat(path)
	used := ragBytes(b, db)
	fmt.Fprintf(os.Stderr, "collection of %d chunks: ingested in %v (%.0f chunks/s, lexical), pages %d bytes (%.0f bytes/chunk), file %d bytes\n",
		n, c.ingestDur.Round(time.Millisecond), float64(n)/c.ingestDur.Seconds(), used, float64(used)/float64(n), fi.Size())
	colls[n] = c
	return c
}

// ragBytes is the size of the pages the RAG buckets occupy (the file itself grows
// in large steps, so its size says little per chunk).
func ragBytes(b *testing.B, db *bbolt.DB) int {
	var n int
	err := db.View(func(tx *bbolt.Tx) error {
		st := tx.Bucket([]byte("rag")).Stats()
		n = st.BranchAlloc + st.LeafAlloc
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

func percentile(d []time.Duration, p float64) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[min(int(float64(len(d))*p), len(d)-1)]
}

// BenchmarkRAGSearch reports p50/p99 latency per strategy at 10k and 100k chunks of
// 100 words (lexical embedder, 1024 dimensions), served from the in-memory index, and
// at 10k also without the cache (the collection loaded from bbolt for every query).
func BenchmarkRAGSearch(b *testing.B) {
	sizes := []int{10000, 100000}
	if os.Getenv("ARIA_BENCH_SMALL") != "" {
		sizes = []int{2000}
	}
	for _, n := range sizes {
		for _, strategy := range []string{rag.BM25, rag.Fuzzy, rag.Semantic, rag.Hybrid} {
			for _, cache := range []bool{true, false} {
				if !cache && (n > 10000 || strategy != rag.BM25 || os.Getenv("ARIA_BENCH_SKIP_NOCACHE") != "") {
					continue
				}
				name := fmt.Sprintf("chunks=%d/strategy=%s", n, strategy)
				if !cache {
					name += "/nocache"
				}
				b.Run(name, func(b *testing.B) {
					c := collection(b, n)
					s := rag.New(c.st, rag.Options{Logger: quiet(), NoCache: !cache})
					g := newTextGen(3)
					// Warm the cache (its load is not a query's cost).
					if _, err := s.Search(context.Background(), "t", rag.SearchRequest{Collection: "bench", Query: "warm", Strategy: strategy, TopK: 5}); err != nil {
						b.Fatal(err)
					}
					lat := make([]time.Duration, 0, b.N)
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						q := g.words(4)
						if strategy == rag.Fuzzy {
							q = typo(q, g.r)
						}
						t0 := time.Now()
						if _, err := s.Search(context.Background(), "t", rag.SearchRequest{Collection: "bench", Query: q, Strategy: strategy, TopK: 5}); err != nil {
							b.Fatal(err)
						}
						lat = append(lat, time.Since(t0))
					}
					b.StopTimer()
					b.ReportMetric(float64(percentile(lat, 0.5).Microseconds())/1000, "p50-ms")
					b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
				})
			}
		}
	}
}

// typo swaps two neighbouring letters of the query's longest word.
func typo(q string, r *rand.Rand) string {
	ws := strings.Fields(q)
	best := 0
	for i, w := range ws {
		if len(w) > len(ws[best]) {
			best = i
		}
	}
	if w := []byte(ws[best]); len(w) >= 4 {
		i := 1 + r.IntN(len(w)-2)
		w[i], w[i+1] = w[i+1], w[i]
		ws[best] = string(w)
	}
	return strings.Join(ws, " ")
}
