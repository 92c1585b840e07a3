package ares

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/aria-node/aria/rag"
	"github.com/aria-node/aria/storage/bolt"
	"github.com/aria-node/aria/tenancy"
)

// FuzzRAGBodies sends arbitrary bodies to the RAG endpoints: the answer is a 2xx or a
// 4xx with a JSON error, never a panic or a 5xx.
func FuzzRAGBodies(f *testing.F) {
	db, err := bbolt.Open(filepath.Join(f.TempDir(), "aria.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	st, err := bolt.NewTenancyStore(db)
	if err != nil {
		f.Fatal(err)
	}
	rs, err := bolt.NewRAGStore(db)
	if err != nil {
		f.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := tenancy.NewService(st, tenancy.Options{Logger: log, JWTSecret: jwtSecret, BcryptCost: 4})
	h := New(Config{Service: svc, Logger: log, RAG: rag.New(rs, rag.Options{Logger: log})}).Wrap(http.NotFoundHandler())
	routes := []struct{ method, path string }{
		{"POST", "/api/rag/ingest"}, {"POST", "/api/rag/search"}, {"DELETE", "/api/rag/collection"}, {"GET", "/api/rag/collections"},
	}
	for _, s := range []string{`{"collection":"c","content":"some text. more text.","chunking_strategy":"sentence"}`,
		`{"collection":"c","query":"text","strategy":"fuzzy","top_k":3,"rerank":true}`, `{"collection":"c"}`,
		`{"collection":"c","content":"x","chunk_size":4,"chunk_overlap":2,"metadata":{"a":[1]}}`,
		`{"collection":"c","query":"x","top_k":1e99}`, `[`, `null`, "\x00", `{"content":"\u0000"}`} {
		for i := range routes {
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		rt := routes[int(which)%len(routes)]
		r := httptest.NewRequest(rt.method, rt.path, strings.NewReader(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("%s %q: %d %s", rt.path, body, w.Code, w.Body)
		}
	})
}
