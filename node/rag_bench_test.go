package node

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aria-node/aria/rag"
	"github.com/aria-node/aria/storage/bolt"
)

// BenchmarkRAGIngestModel is RAG ingest throughput with the model's own embeddings on
// the real kernel (1 thread, as every test node): documents of 4 chunks of 100 words.
// The tiny model by default; ARIA_BENCH_MODEL=path for another (the README's 700m).
//
//	go test -run '^$' -bench RAGIngestModel -benchtime 10x ./node/
//	ARIA_BENCH_MODEL=build/bench/700m-tq2_0.gguf go test -run '^$' -bench RAGIngestModel -benchtime 3x ./node/
func BenchmarkRAGIngestModel(b *testing.B) {
	var mod func(*Config)
	if p := os.Getenv("ARIA_BENCH_MODEL"); p != "" {
		mod = func(c *Config) { c.Models = []string{p} }
	}
	n := startTestNode(b, b.TempDir(), mod)
	model := n.Models()[0].ID
	emb := ModelEmbedder(n.engine, model)
	db, err := bolt.Open(context.Background(), filepath.Join(b.TempDir(), "rag.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	st, _ := bolt.NewRAGStore(db)
	s := rag.New(st, rag.Options{Embedder: emb})
	words := strings.Fields("the node keeps every collection in its own bucket and answers searches from memory while the kernel embeds passages in batches of eight sequences per decode")
	r := rand.New(rand.NewPCG(1, 1))
	docs := make([]string, b.N)
	for i := range docs {
		var sb strings.Builder
		for j := range 400 {
			fmt.Fprintf(&sb, "%s%d ", words[r.IntN(len(words))], j%13)
		}
		docs[i] = sb.String()
	}
	size, overlap := 100, 0
	b.ResetTimer()
	start, chunks := time.Now(), 0
	for i := 0; i < b.N; i++ {
		res, err := s.Ingest(context.Background(), "t", rag.IngestRequest{Collection: "m", Content: docs[i], ChunkSize: &size, ChunkOverlap: &overlap})
		if err != nil {
			b.Fatal(err)
		}
		chunks += res.Created
	}
	el := time.Since(start)
	b.StopTimer()
	c, _ := st.Collection(context.Background(), "t", "m")
	_, all, _ := st.Load(context.Background(), "t", "m")
	tokens := 0
	for _, ch := range all {
		toks, err := n.engine.Tokenize(context.Background(), model, ch.Content)
		if err != nil {
			b.Fatal(err)
		}
		tokens += len(toks)
	}
	b.ReportMetric(float64(chunks)/el.Seconds(), "chunks/s")
	b.ReportMetric(float64(tokens)/el.Seconds(), "tokens/s")
	b.ReportMetric(float64(tokens)/float64(max(len(all), 1)), "tokens/chunk")
	b.ReportMetric(float64(c.Dim), "dims")
}
