package node

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aria-node/aria/internal/testhttp"
	"github.com/aria-node/aria/openai"
	"github.com/aria-node/aria/rag"
	"github.com/aria-node/aria/storage/bolt"
)

func postJSON(t *testing.T, url, body string) (int, []byte, http.Header) {
	t.Helper()
	return testhttp.Do(t, "POST", url, body)
}

// A node serves the RAG API on its platform layer (open mode, loopback); collections
// live in aria.db and survive a restart. With only a synthetic model the vectors come
// from the lexical embedder and rerank says it is unsupported.
func TestRAGOnNodeSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	n := startTestNode(t, dir, nil)
	srv := httptest.NewServer(openai.NewServer(n.apiConfig()).Handler())
	status, body, _ := postJSON(t, srv.URL+"/api/rag/ingest", `{"collection":"notes","content":"The lighthouse keeper logs the ships every night.\n\nThe harbour closes at dusk.","chunking_strategy":"paragraph"}`)
	if status != 201 {
		t.Fatalf("ingest %d %s", status, body)
	}
	srv.Close()
	stopTestNode(t, n)

	n = startTestNode(t, dir, nil)
	srv = httptest.NewServer(openai.NewServer(n.apiConfig()).Handler())
	defer srv.Close()
	status, body, hdr := postJSON(t, srv.URL+"/api/rag/search", `{"collection":"notes","query":"lighthouse ships","rerank":true}`)
	var res []map[string]any
	if status != 200 || json.Unmarshal(body, &res) != nil || len(res) == 0 || !strings.Contains(res[0]["content"].(string), "lighthouse") {
		t.Fatalf("search after restart %d %s", status, body)
	}
	if hdr.Get("X-Rerank") != "unsupported" {
		t.Fatalf("X-Rerank %q with a synthetic model", hdr.Get("X-Rerank"))
	}
	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/api/rag/collections", nil)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var list struct {
		Collections []struct {
			Name     string `json:"name"`
			Embedder string `json:"embedder"`
			Chunks   int    `json:"chunks"`
		} `json:"collections"`
	}
	if err := json.NewDecoder(r.Body).Decode(&list); err != nil || len(list.Collections) != 1 || list.Collections[0].Embedder != "lexical-fnv1024-v1" || list.Collections[0].Chunks != 1 {
		t.Fatalf("collections %+v %v", list, err)
	}
}

// The model embedder runs the real kernel: vectors of the model's width, batched, and
// a collection built with it answers semantic searches.
func TestModelEmbedderOnTheKernel(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	model := n.Models()[0].ID
	emb := ModelEmbedder(n.engine, model)
	texts := []string{"first passage about boats", "second passage about trains", strings.Repeat("long ", 3000)}
	vs, err := emb.EmbedBatch(t.Context(), texts)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 3 || len(vs[0]) == 0 || len(vs[1]) != len(vs[0]) || len(vs[2]) != len(vs[0]) {
		t.Fatalf("vectors %d of %d dims", len(vs), len(vs[0]))
	}
	one, err := emb.Embed(t.Context(), texts[0])
	if err != nil || cosine(one, vs[0]) < 0.999 {
		t.Fatalf("single vs batched embedding: cosine %v, %v", cosine(one, vs[0]), err)
	}
	db, err := bolt.Open(context.Background(), filepath.Join(t.TempDir(), "rag.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := bolt.NewRAGStore(db)
	if err != nil {
		t.Fatal(err)
	}
	s := rag.New(st, rag.Options{Embedder: emb, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	for _, d := range texts[:2] {
		if _, err := s.Ingest(t.Context(), "", rag.IngestRequest{Collection: "k", Content: d}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := st.Collection(t.Context(), "", "k")
	if err != nil || c.Embedder != "model:"+model || c.Dim != len(vs[0]) {
		t.Fatalf("collection %+v %v", c, err)
	}
	resp, err := s.Search(t.Context(), "", rag.SearchRequest{Collection: "k", Query: "first passage about boats", Strategy: rag.Semantic, TopK: 2})
	if err != nil || len(resp.Results) == 0 || resp.Results[0].Content != texts[0] {
		t.Fatalf("semantic search with model vectors: %+v %v", resp, err)
	}
}
