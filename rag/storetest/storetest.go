// Package storetest is the behaviour every rag.Store must have; storage/bolt and
// storage/postgres run it.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/aria-node/aria/internal/storesuite"
	"github.com/aria-node/aria/rag"
)

// Run runs the suite; open returns an empty store for each subtest.
func Run(t *testing.T, open func(t *testing.T) rag.Store) {
	storesuite.Run(t, open, []storesuite.Case[rag.Store]{
		{Name: "IngestLoad", Fn: testIngestLoad},
		{Name: "Idempotent", Fn: testIdempotent},
		{Name: "TenantIsolation", Fn: testIsolation},
		{Name: "Delete", Fn: testDelete},
		{Name: "EmbedderChange", Fn: testEmbedderChange},
		{Name: "Listing", Fn: testListing},
		{Name: "ConcurrentIngest", Fn: testConcurrent},
		{Name: "Unicode", Fn: testUnicode},
	})
}

// The suites' shared clock and helpers.
var (
	t0      = storesuite.T0
	must    = storesuite.Must
	wantErr = storesuite.WantErr
)

// document makes a document of n chunks with 2-dimensional vectors from embedder.
func document(tenant, coll, id string, n int, embedder string) (rag.Collection, rag.Document, []rag.Chunk) {
	c := rag.Collection{Tenant: tenant, Name: coll, Chunking: rag.ChunkConfig{Size: 50, Overlap: 5}, Embedder: embedder, Dim: 2, CreatedAt: t0}
	meta := json.RawMessage(`{"source":"` + id + `"}`)
	doc := rag.Document{ID: id, Strategy: "word", Metadata: meta, CreatedAt: t0}
	var chunks []rag.Chunk
	for i := range n {
		cid := fmt.Sprintf("%s-c%d", id, i)
		doc.ChunkIDs = append(doc.ChunkIDs, cid)
		chunks = append(chunks, rag.Chunk{ID: cid, DocumentID: id, Index: i, Content: fmt.Sprintf("chunk %d of %s", i, id),
			Metadata: meta, Terms: []rag.TermFreq{{Term: "chunk", TF: 1}, {Term: id, TF: i + 1}}, Vector: []float32{float32(i), 1}})
	}
	return c, doc, chunks
}

func ingest(t *testing.T, s rag.Store, tenant, coll, id string, n int) rag.Document {
	t.Helper()
	c, doc, chunks := document(tenant, coll, id, n, "emb-a")
	got, existed, err := s.Ingest(context.Background(), c, doc, chunks)
	must(t, err)
	if existed {
		t.Fatalf("new document %s reported as existing", id)
	}
	return got
}

func sameMeta(a, b json.RawMessage) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

func testIngestLoad(t *testing.T, s rag.Store) {
	ctx := context.Background()
	ingest(t, s, "t1", "docs", "d1", 3)
	ingest(t, s, "t1", "docs", "d2", 2)
	c, err := s.Collection(ctx, "t1", "docs")
	must(t, err)
	if c.Documents != 2 || c.Chunks != 5 || c.Embedder != "emb-a" || c.Dim != 2 || c.Chunking != (rag.ChunkConfig{Size: 50, Overlap: 5}) || c.Version < 2 {
		t.Fatalf("collection %+v", c)
	}
	if !c.CreatedAt.Equal(t0) {
		t.Fatalf("created %v", c.CreatedAt)
	}
	lc, chunks, err := s.Load(ctx, "t1", "docs")
	must(t, err)
	if lc.Version != c.Version || len(chunks) != 5 {
		t.Fatalf("loaded %+v with %d chunks", lc, len(chunks))
	}
	_, _, want1 := document("t1", "docs", "d1", 3, "emb-a")
	_, _, want2 := document("t1", "docs", "d2", 2, "emb-a")
	want := append(want1, want2...)
	for i, ch := range chunks {
		w := want[i]
		if ch.ID != w.ID || ch.DocumentID != w.DocumentID || ch.Index != w.Index || ch.Content != w.Content || !sameMeta(ch.Metadata, w.Metadata) {
			t.Fatalf("chunk %d: %+v, want %+v", i, ch, w)
		}
		if !reflect.DeepEqual(ch.Terms, w.Terms) || !reflect.DeepEqual(ch.Vector, w.Vector) {
			t.Fatalf("chunk %d postings %v vector %v, want %v %v", i, ch.Terms, ch.Vector, w.Terms, w.Vector)
		}
	}
}

func testIdempotent(t *testing.T, s rag.Store) {
	ctx := context.Background()
	first := ingest(t, s, "t1", "docs", "d1", 3)
	c0, _ := s.Collection(ctx, "t1", "docs")
	c, doc, chunks := document("t1", "docs", "d1", 3, "emb-a")
	got, existed, err := s.Ingest(ctx, c, doc, chunks)
	must(t, err)
	if !existed || !reflect.DeepEqual(got.ChunkIDs, first.ChunkIDs) {
		t.Fatalf("re-ingest: existed %v ids %v, want %v", existed, got.ChunkIDs, first.ChunkIDs)
	}
	c1, _ := s.Collection(ctx, "t1", "docs")
	if c1.Chunks != 3 || c1.Documents != 1 || c1.Version != c0.Version {
		t.Fatalf("re-ingest changed the collection: %+v", c1)
	}
}

func testIsolation(t *testing.T, s rag.Store) {
	ctx := context.Background()
	ingest(t, s, "alpha", "shared-name", "d1", 2)
	_, err := s.Collection(ctx, "beta", "shared-name")
	wantErr(t, err, rag.ErrNotFound)
	_, _, err = s.Load(ctx, "beta", "shared-name")
	wantErr(t, err, rag.ErrNotFound)
	wantErr(t, s.Delete(ctx, "beta", "shared-name"), rag.ErrNotFound)
	wantErr(t, s.SetVectors(ctx, "beta", "shared-name", "x", 2, [][]float32{{1, 0}, {0, 1}}), rag.ErrNotFound)
	list, err := s.Collections(ctx, "beta")
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("beta sees %v", list)
	}
	// beta's own collection of the same name is separate.
	ingest(t, s, "beta", "shared-name", "d9", 1)
	a, _ := s.Collection(ctx, "alpha", "shared-name")
	b, _ := s.Collection(ctx, "beta", "shared-name")
	if a.Chunks != 2 || b.Chunks != 1 {
		t.Fatalf("alpha %d chunks, beta %d", a.Chunks, b.Chunks)
	}
	// The empty tenant (a node in open mode) is a tenant like any other.
	_, err = s.Collection(ctx, "", "shared-name")
	wantErr(t, err, rag.ErrNotFound)
}

func testDelete(t *testing.T, s rag.Store) {
	ctx := context.Background()
	ingest(t, s, "t1", "gone", "d1", 3)
	ingest(t, s, "t1", "kept", "d1", 1)
	must(t, s.Delete(ctx, "t1", "gone"))
	_, err := s.Collection(ctx, "t1", "gone")
	wantErr(t, err, rag.ErrNotFound)
	_, _, err = s.Load(ctx, "t1", "gone")
	wantErr(t, err, rag.ErrNotFound)
	wantErr(t, s.Delete(ctx, "t1", "gone"), rag.ErrNotFound)
	// Recreated, it holds only what is ingested again: no chunk, posting or vector of
	// the deleted one survives.
	ingest(t, s, "t1", "gone", "d2", 1)
	c, chunks, err := s.Load(ctx, "t1", "gone")
	must(t, err)
	if c.Chunks != 1 || c.Documents != 1 || len(chunks) != 1 || chunks[0].DocumentID != "d2" {
		t.Fatalf("recreated: %+v %+v", c, chunks)
	}
	for _, tf := range chunks[0].Terms {
		if tf.Term == "d1" {
			t.Fatalf("a posting of the deleted collection survived: %v", chunks[0].Terms)
		}
	}
	// d1 may be ingested again: its id is free.
	ingest(t, s, "t1", "gone", "d1", 2)
	if _, chunks, _ := s.Load(ctx, "t1", "kept"); len(chunks) != 1 {
		t.Fatalf("deleting one collection touched another: %d chunks", len(chunks))
	}
}

func testEmbedderChange(t *testing.T, s rag.Store) {
	ctx := context.Background()
	ingest(t, s, "t1", "docs", "d1", 2)
	c, doc, chunks := document("t1", "docs", "d2", 1, "emb-b")
	_, _, err := s.Ingest(ctx, c, doc, chunks)
	wantErr(t, err, rag.ErrEmbedderChanged)
	if got, _ := s.Collection(ctx, "t1", "docs"); got.Chunks != 2 {
		t.Fatalf("a refused ingest changed the collection: %+v", got)
	}
	wantErr(t, s.SetVectors(ctx, "t1", "docs", "emb-b", 3, [][]float32{{1, 2, 3}}), rag.ErrConflict)
	must(t, s.SetVectors(ctx, "t1", "docs", "emb-b", 3, [][]float32{{1, 2, 3}, {4, 5, 6}}))
	got, chunks2, err := s.Load(ctx, "t1", "docs")
	must(t, err)
	if got.Embedder != "emb-b" || got.Dim != 3 || !reflect.DeepEqual(chunks2[1].Vector, []float32{4, 5, 6}) {
		t.Fatalf("after SetVectors: %+v %v", got, chunks2[1].Vector)
	}
	c.Dim = 3
	for i := range chunks {
		chunks[i].Vector = []float32{7, 8, 9}
	}
	_, _, err = s.Ingest(ctx, c, doc, chunks)
	must(t, err)
}

func testListing(t *testing.T, s rag.Store) {
	ctx := context.Background()
	ingest(t, s, "t1", "b-coll", "d1", 2)
	ingest(t, s, "t1", "a-coll", "d1", 1)
	ingest(t, s, "t1", "a-coll", "d2", 4)
	ingest(t, s, "t2", "c-coll", "d1", 1)
	list, err := s.Collections(ctx, "t1")
	must(t, err)
	if len(list) != 2 || list[0].Name != "a-coll" || list[0].Documents != 2 || list[0].Chunks != 5 ||
		list[1].Name != "b-coll" || list[1].Chunks != 2 || list[0].Tenant != "t1" {
		t.Fatalf("listing %+v", list)
	}
}

func testConcurrent(t *testing.T, s rag.Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 4 {
				c, doc, chunks := document("t1", "busy", fmt.Sprintf("g%dd%d", g, i), 3, "emb-a")
				if _, _, err := s.Ingest(ctx, c, doc, chunks); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c, chunks, err := s.Load(ctx, "t1", "busy")
	must(t, err)
	if c.Documents != 16 || c.Chunks != 48 || len(chunks) != 48 {
		t.Fatalf("after 16 concurrent ingests: %d documents, %d chunks (%d loaded)", c.Documents, c.Chunks, len(chunks))
	}
}

func testUnicode(t *testing.T, s rag.Store) {
	ctx := context.Background()
	c, doc, chunks := document("t1", "uni", "d1", 1, "emb-a")
	chunks[0].Content = "naïve café — 東京 🚀 tab\there"
	chunks[0].Terms = []rag.TermFreq{{Term: "café", TF: 1}, {Term: "東京", TF: 2}}
	_, _, err := s.Ingest(ctx, c, doc, chunks)
	must(t, err)
	_, got, err := s.Load(ctx, "t1", "uni")
	must(t, err)
	if got[0].Content != chunks[0].Content || !reflect.DeepEqual(got[0].Terms, chunks[0].Terms) {
		t.Fatalf("round trip %q %v", got[0].Content, got[0].Terms)
	}
}
