package ares

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/aria-node/aria/rag"
	"github.com/aria-node/aria/storage/bolt"
	"github.com/aria-node/aria/tenancy"
)

// ragEnv serves the platform with RAG on one bbolt database (or PostgreSQL).
func ragEnv(t *testing.T, pg bool, open bool) *env {
	t.Helper()
	var st tenancy.Store
	var rs rag.Store
	if pg {
		p := openPG(t)
		st, rs = p, p.RAG()
	} else {
		db := tempBolt(t)
		ts, err := bolt.NewTenancyStore(db)
		if err != nil {
			t.Fatal(err)
		}
		b, err := bolt.NewRAGStore(db)
		if err != nil {
			t.Fatal(err)
		}
		st, rs = ts, b
	}
	svc := rag.New(rs, rag.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return newEnv(t, envOpts{store: st, rag: svc, open: open})
}

func ragBody(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (r resp) array(t *testing.T) []map[string]any {
	t.Helper()
	var a []map[string]any
	if err := json.Unmarshal(r.body, &a); err != nil {
		t.Fatalf("not a JSON array (%d): %s", r.status, r.body)
	}
	return a
}

var ragDocs = []string{
	"ARES is a multi-agent AI platform that orchestrates specialized agents to handle complex queries.\n\nIt routes each query to the agent best suited for it.",
	"The router agent reads the query and delegates to specialist agents in sequence.",
	"Billing runs monthly; invoices are sent on the first day of the month.",
	"Quotas limit requests per day and tokens per month for each tier.",
	"Agents can call tools such as a calculator or web search during a run.",
	"Workflows chain agents: an entry agent hands its output to the next.",
	"Usage metering records every request and the tokens it used.",
	"Each tenant's data is isolated from every other tenant.",
}

func TestRAGOverHTTP(t *testing.T)         { testRAGOverHTTP(t, false) }
func TestRAGOverHTTPPostgres(t *testing.T) { testRAGOverHTTP(t, true) }

func testRAGOverHTTP(t *testing.T, pg bool) {
	e := ragEnv(t, pg, false)
	_, keyA := e.tenant("alpha", "pro")
	_, keyB := e.tenant("beta", "pro")

	// Without credentials the platform asks for them (auth mode).
	want(t, e.req("POST", "/api/rag/ingest", `{"collection":"docs","content":"x"}`), 401)

	var ids []string
	for i, d := range ragDocs {
		r := e.withKey(keyA, "POST", "/api/rag/ingest", ragBody(t, map[string]any{
			"collection": "product-docs", "content": d, "metadata": map[string]any{"n": i, "source": "documentation"}, "chunking_strategy": "paragraph"}))
		want(t, r, 201)
		m := r.json(t)
		docIDs, _ := m["document_ids"].([]any)
		if m["collection"] != "product-docs" || int(num(m["chunks_created"])) != len(docIDs) || len(docIDs) == 0 {
			t.Fatalf("ingest response %s", r.body)
		}
		ids = append(ids, docIDs[0].(string))
	}
	// Idempotent: the same content again creates nothing and answers the same ids.
	r := e.withKey(keyA, "POST", "/api/rag/ingest", ragBody(t, map[string]any{"collection": "product-docs", "content": ragDocs[1]}))
	want(t, r, 200)
	if m := r.json(t); num(m["chunks_created"]) != 0 || m["duplicate"] != true || m["document_ids"].([]any)[0] != ids[1] {
		t.Fatalf("re-ingest %s", r.body)
	}

	// Search: the documented request; every strategy; top_k defaults to 5.
	for _, strategy := range []string{"", "hybrid", "bm25", "semantic", "fuzzy"} {
		req := map[string]any{"collection": "product-docs", "query": "how does agent routing work"}
		if strategy != "" {
			req["strategy"] = strategy
		}
		r := e.withKey(keyA, "POST", "/api/rag/search", ragBody(t, req))
		want(t, r, 200)
		res := r.array(t)
		if len(res) == 0 || len(res) > 5 {
			t.Fatalf("%s: %d results: %s", strategy, len(res), r.body)
		}
		top := res[0]
		for _, f := range []string{"id", "content", "score", "metadata", "document_id"} {
			if _, ok := top[f]; !ok {
				t.Fatalf("%s: result without %s: %v", strategy, f, top)
			}
		}
		if !strings.Contains(top["content"].(string), "rout") || top["metadata"].(map[string]any)["source"] != "documentation" {
			t.Fatalf("%s: top result %v", strategy, top)
		}
	}
	r = e.withKey(keyA, "POST", "/api/rag/search", `{"collection":"product-docs","query":"agents tenant tokens requests billing workflows usage","top_k":20}`)
	want(t, r, 200)
	if n := len(r.array(t)); n < 6 {
		t.Fatalf("top_k 20 gave %d results", n)
	}
	r = e.withKey(keyA, "POST", "/api/rag/search", `{"collection":"product-docs","query":"agents","rerank":true}`)
	want(t, r, 200)
	if r.header.Get("X-Rerank") != "unsupported" {
		t.Fatalf("rerank without a reranker: X-Rerank %q", r.header.Get("X-Rerank"))
	}

	// Listing with counts.
	r = e.withKey(keyA, "GET", "/api/rag/collections", "")
	want(t, r, 200)
	cs := r.json(t)["collections"].([]any)
	c := cs[0].(map[string]any)
	if len(cs) != 1 || c["name"] != "product-docs" || num(c["documents"]) != int64(len(ragDocs)) || num(c["chunks"]) != int64(len(ragDocs)) ||
		num(c["chunk_size"]) != rag.DefaultChunkSize || c["embedder"] == "" {
		t.Fatalf("collections %s", r.body)
	}

	// Isolation: beta does not see alpha's collection, under any verb.
	want(t, e.withKey(keyB, "POST", "/api/rag/search", `{"collection":"product-docs","query":"agents"}`), 404)
	want(t, e.withKey(keyB, "DELETE", "/api/rag/collection", `{"collection":"product-docs"}`), 404)
	r = e.withKey(keyB, "GET", "/api/rag/collections", "")
	if want(t, r, 200); len(r.json(t)["collections"].([]any)) != 0 {
		t.Fatalf("beta lists %s", r.body)
	}
	// beta's own collection of the same name is its own.
	want(t, e.withKey(keyB, "POST", "/api/rag/ingest", `{"collection":"product-docs","content":"Beta's only document about bananas."}`), 201)
	r = e.withKey(keyB, "POST", "/api/rag/search", `{"collection":"product-docs","query":"agents routing","strategy":"bm25"}`)
	if want(t, r, 200); len(r.array(t)) != 0 {
		t.Fatalf("beta found alpha's passages: %s", r.body)
	}

	// Delete removes the collection with its chunks, postings and vectors.
	r = e.withKey(keyA, "DELETE", "/api/rag/collection", `{"collection":"product-docs"}`)
	want(t, r, 200)
	if m := r.json(t); m["deleted"] != true {
		t.Fatalf("delete %s", r.body)
	}
	r = e.withKey(keyA, "POST", "/api/rag/search", `{"collection":"product-docs","query":"agents"}`)
	want(t, r, 404)
	if m := r.json(t); m["code"] != "NOT_FOUND" {
		t.Fatalf("%s", r.body)
	}
	want(t, e.withKey(keyA, "DELETE", "/api/rag/collection", `{"collection":"product-docs"}`), 404)
	r = e.withKey(keyB, "POST", "/api/rag/search", `{"collection":"product-docs","query":"bananas"}`)
	if want(t, r, 200); len(r.array(t)) != 1 {
		t.Fatalf("deleting alpha's collection touched beta's: %s", r.body)
	}
	// Re-created, nothing of the deleted collection comes back.
	want(t, e.withKey(keyA, "POST", "/api/rag/ingest", `{"collection":"product-docs","content":"A fresh start."}`), 201)
	r = e.withKey(keyA, "POST", "/api/rag/search", `{"collection":"product-docs","query":"agents routing query","strategy":"bm25","top_k":100}`)
	if want(t, r, 200); len(r.array(t)) != 0 {
		t.Fatalf("deleted passages came back: %s", r.body)
	}
}

func TestRAGBadInput(t *testing.T) {
	e := ragEnv(t, false, true)
	want(t, e.req("POST", "/api/rag/ingest", `{"collection":"docs","content":"Some real text to keep."}`), 201)
	big := `{"collection":"docs","content":"` + strings.Repeat("a", 50<<20) + `"}`
	for _, tc := range []struct {
		name, path, body string
		status           int
		field            string
	}{
		{"empty content", "/api/rag/ingest", `{"collection":"docs","content":""}`, 400, "content"},
		{"missing content", "/api/rag/ingest", `{"collection":"docs"}`, 400, "content"},
		{"binary content", "/api/rag/ingest", `{"collection":"docs","content":"PK\u0003\u0004\u0000\u0000"}`, 400, "content"},
		{"content not a string", "/api/rag/ingest", `{"collection":"docs","content":42}`, 400, "content"},
		{"path in collection", "/api/rag/ingest", `{"collection":"../../etc","content":"text"}`, 400, "collection"},
		{"collection with a slash", "/api/rag/ingest", `{"collection":"a/b","content":"text"}`, 400, "collection"},
		{"unknown chunking", "/api/rag/ingest", `{"collection":"docs2","content":"text","chunking_strategy":"magic"}`, 400, "chunking_strategy"},
		{"50 MB document", "/api/rag/ingest", big, 413, "content"},
		{"unknown strategy", "/api/rag/search", `{"collection":"docs","query":"text","strategy":"magic"}`, 400, "strategy"},
		{"top_k 0", "/api/rag/search", `{"collection":"docs","query":"text","top_k":0}`, 400, "top_k"},
		{"top_k 10000", "/api/rag/search", `{"collection":"docs","query":"text","top_k":10000}`, 400, "top_k"},
		{"top_k a string", "/api/rag/search", `{"collection":"docs","query":"text","top_k":"5"}`, 400, "top_k"},
		{"no query", "/api/rag/search", `{"collection":"docs"}`, 400, "query"},
		{"path in a search", "/api/rag/search", `{"collection":"../docs","query":"text"}`, 400, "collection"},
		{"no body", "/api/rag/search", ``, 400, "body"},
		{"bad JSON", "/api/rag/search", `{"collection":`, 400, "JSON"},
	} {
		r := e.req("POST", tc.path, tc.body)
		if r.status != tc.status {
			t.Errorf("%s: status %d, want %d: %.200s", tc.name, r.status, tc.status, r.body)
			continue
		}
		m := r.json(t)
		msg, _ := m["error"].(string)
		if m["code"] == nil || !strings.Contains(msg, tc.field) {
			t.Errorf("%s: %s does not name %s", tc.name, r.body, tc.field)
		}
	}
	want(t, e.req("GET", "/api/rag/ingest", ""), 405)
	// Nothing of the refused ingests is visible.
	r := e.req("GET", "/api/rag/collections", "")
	want(t, r, 200)
	cs := r.json(t)["collections"].([]any)
	if len(cs) != 1 || num(cs[0].(map[string]any)["documents"]) != 1 {
		t.Fatalf("collections after bad input: %s", r.body)
	}
}

func TestRAGAbsentIs404(t *testing.T) {
	e := newEnv(t, envOpts{open: true})
	r := e.req("POST", "/api/rag/search", `{"collection":"docs","query":"x"}`)
	if r.status != 404 {
		t.Fatalf("RAG without a service: %d %s", r.status, r.body)
	}
	_ = fmt.Sprint()
}
