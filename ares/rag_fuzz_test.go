package ares

import (
	"net/http"
	"testing"

	"github.com/aria-node/aria/rag"
	"github.com/aria-node/aria/storage/bolt"
)

// FuzzRAGBodies sends arbitrary bodies to the RAG endpoints: the answer is a 2xx or a
// 4xx with a JSON error, never a panic or a 5xx.
func FuzzRAGBodies(f *testing.F) {
	p := newFuzzPlatform(f)
	rs, err := bolt.NewRAGStore(p.db)
	if err != nil {
		f.Fatal(err)
	}
	h := New(Config{Service: p.svc, Logger: p.log, RAG: rag.New(rs, rag.Options{Logger: p.log})}).Wrap(http.NotFoundHandler())
	routes := []string{"POST /api/rag/ingest", "POST /api/rag/search", "DELETE /api/rag/collection", "GET /api/rag/collections"}
	fuzzBodies(f, h, nil, routes, []string{`{"collection":"c","content":"some text. more text.","chunking_strategy":"sentence"}`,
		`{"collection":"c","query":"text","strategy":"fuzzy","top_k":3,"rerank":true}`, `{"collection":"c"}`,
		`{"collection":"c","content":"x","chunk_size":4,"chunk_overlap":2,"metadata":{"a":[1]}}`,
		`{"collection":"c","query":"x","top_k":1e99}`, `[`, `null`, "\x00", `{"content":"\u0000"}`})
}
