package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/aria-node/aria/rag"
)

// RAG layout: bucket "rag" → one bucket per tenant ("t:"+id) → one per collection,
// holding key "info" (the collection record, JSON) and buckets "docs" (document id →
// JSON), "chunks" (8-byte big-endian sequence → JSON), "post" (sequence → the chunk's
// postings, rag.EncodePostings) and "vecs" (first sequence of a run of consecutive
// chunks → their vectors, rag.EncodeVectors: whole pages, where a vector per key
// would take two pages for 1024 dimensions). The
// three chunk buckets only grow at their end, so pages are filled whole; the inverted
// index is built in memory when a collection is loaded. (Postings keyed term→chunk
// were measured first: every ingest then dirtied pages all over the tree, 3x slower and
// 16 KB on disk per chunk; see README "RAG".) A collection is deleted by deleting its
// bucket.
var (
	bRAG       = []byte("rag")
	kInfo      = []byte("info")
	bRAGDocs   = []byte("docs")
	bRAGChunks = []byte("chunks")
	bRAGPost   = []byte("post")
	bRAGVecs   = []byte("vecs")
)

// RAGStore is rag.Store on a bbolt database the caller owns. Each ingest is one
// transaction (fsynced on commit): acknowledged ingests survive kill -9 and a failed
// one leaves nothing.
type RAGStore struct{ db *bbolt.DB }

var _ rag.Store = (*RAGStore)(nil)

// NewRAGStore creates the RAG bucket in db.
func NewRAGStore(db *bbolt.DB) (*RAGStore, error) {
	err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bRAG)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("rag bucket: %w", err)
	}
	return &RAGStore{db: db}, nil
}

type collectionRecord struct {
	ChunkSize    int       `json:"chunk_size"`
	ChunkOverlap int       `json:"chunk_overlap"`
	Embedder     string    `json:"embedder"`
	Dim          int       `json:"dim"`
	Documents    int       `json:"documents"`
	Chunks       int       `json:"chunks"`
	Version      int64     `json:"version"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

type documentRecord struct {
	Strategy  string          `json:"strategy"`
	Metadata  json.RawMessage `json:"metadata"`
	ChunkIDs  []string        `json:"chunk_ids"`
	CreatedAt time.Time       `json:"created_at"`
}

type chunkRecord struct {
	ID       string          `json:"id"`
	Document string          `json:"document_id"`
	Index    int             `json:"index"`
	Content  string          `json:"content"`
	Metadata json.RawMessage `json:"metadata"`
}

func tenantKey(tenant string) []byte { return []byte("t:" + tenant) }

// decodeInfo reads a collection record; a damaged one is an error.
func decodeInfo(tenant, name string, data []byte) (rag.Collection, error) {
	var r collectionRecord
	if data == nil {
		return rag.Collection{}, fmt.Errorf("rag collection %q: no record", name)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return rag.Collection{}, fmt.Errorf("rag collection %q: %w", name, err)
	}
	if r.Dim < 0 || r.Dim > rag.MaxDim || r.Chunks < 0 || r.Documents < 0 {
		return rag.Collection{}, fmt.Errorf("rag collection %q: damaged record", name)
	}
	return rag.Collection{Tenant: tenant, Name: name, Chunking: rag.ChunkConfig{Size: r.ChunkSize, Overlap: r.ChunkOverlap},
		Embedder: r.Embedder, Dim: r.Dim, Documents: r.Documents, Chunks: r.Chunks, Version: r.Version,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}, nil
}

func encodeInfo(c rag.Collection) ([]byte, error) {
	return json.Marshal(collectionRecord{ChunkSize: c.Chunking.Size, ChunkOverlap: c.Chunking.Overlap, Embedder: c.Embedder,
		Dim: c.Dim, Documents: c.Documents, Chunks: c.Chunks, Version: c.Version, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt})
}

// decodeChunk reads a stored chunk.
func decodeChunk(data []byte) (rag.Chunk, error) {
	var r chunkRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return rag.Chunk{}, fmt.Errorf("rag chunk: %w", err)
	}
	if r.ID == "" || r.Index < 0 {
		return rag.Chunk{}, errors.New("rag chunk: damaged record")
	}
	return rag.Chunk{ID: r.ID, DocumentID: r.Document, Index: r.Index, Content: r.Content, Metadata: r.Metadata}, nil
}

func (s *RAGStore) view(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return guard(func() error { return s.db.View(fn) })
}

func (s *RAGStore) update(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return guard(func() error { return s.db.Update(fn) })
}

func collectionBucket(tx *bbolt.Tx, tenant, name string) *bbolt.Bucket {
	tb := tx.Bucket(bRAG).Bucket(tenantKey(tenant))
	if tb == nil {
		return nil
	}
	return tb.Bucket([]byte(name))
}

// Ingest implements rag.Store.
func (s *RAGStore) Ingest(ctx context.Context, c rag.Collection, doc rag.Document, chunks []rag.Chunk) (rag.Document, bool, error) {
	stored, existed := doc, false
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		tb, err := tx.Bucket(bRAG).CreateBucketIfNotExists(tenantKey(c.Tenant))
		if err != nil {
			return err
		}
		info := c
		info.Documents, info.Chunks, info.Version = 0, 0, 0
		cb := tb.Bucket([]byte(c.Name))
		if cb == nil {
			if cb, err = tb.CreateBucket([]byte(c.Name)); err != nil {
				return err
			}
			for _, b := range [][]byte{bRAGDocs, bRAGChunks, bRAGPost, bRAGVecs} {
				if _, err := cb.CreateBucket(b); err != nil {
					return err
				}
			}
		} else if info, err = decodeInfo(c.Tenant, c.Name, cb.Get(kInfo)); err != nil {
			return err
		}
		if data := cb.Bucket(bRAGDocs).Get([]byte(doc.ID)); data != nil {
			var r documentRecord
			if err := json.Unmarshal(data, &r); err != nil {
				return fmt.Errorf("rag document %s: %w", doc.ID, err)
			}
			stored = rag.Document{ID: doc.ID, Strategy: r.Strategy, Metadata: r.Metadata, ChunkIDs: r.ChunkIDs, CreatedAt: r.CreatedAt}
			existed = true
			return nil
		}
		if info.Chunks == 0 {
			info.Embedder, info.Dim = c.Embedder, c.Dim
		} else if info.Embedder != c.Embedder || info.Dim != c.Dim {
			return fmt.Errorf("%w: %s (%d dims), offered %s (%d dims)", rag.ErrEmbedderChanged, info.Embedder, info.Dim, c.Embedder, c.Dim)
		}
		cbk, post, vecs := cb.Bucket(bRAGChunks), cb.Bucket(bRAGPost), cb.Bucket(bRAGVecs)
		// Appends only: full pages.
		cbk.FillPercent, post.FillPercent, vecs.FillPercent = 1, 1, 1
		var run [][]float32
		var runStart uint64
		for _, ch := range chunks {
			if c.Embedder != "" && len(ch.Vector) != c.Dim {
				return fmt.Errorf("rag ingest: a vector of %d dims in a collection of %d", len(ch.Vector), c.Dim)
			}
			seq, err := cbk.NextSequence()
			if err != nil {
				return err
			}
			data, err := json.Marshal(chunkRecord{ID: ch.ID, Document: ch.DocumentID, Index: ch.Index, Content: ch.Content, Metadata: ch.Metadata})
			if err != nil {
				return err
			}
			if err := cbk.Put(seqKey(seq), data); err != nil {
				return err
			}
			if err := post.Put(seqKey(seq), rag.EncodePostings(ch.Terms)); err != nil {
				return err
			}
			if c.Embedder != "" {
				if len(run) == 0 {
					runStart = seq
				}
				run = append(run, ch.Vector)
			}
		}
		if len(run) > 0 {
			if err := vecs.Put(seqKey(runStart), rag.EncodeVectors(run)); err != nil {
				return err
			}
		}
		data, err := json.Marshal(documentRecord{Strategy: doc.Strategy, Metadata: doc.Metadata, ChunkIDs: doc.ChunkIDs, CreatedAt: doc.CreatedAt})
		if err != nil {
			return err
		}
		if err := cb.Bucket(bRAGDocs).Put([]byte(doc.ID), data); err != nil {
			return err
		}
		info.Documents++
		info.Chunks += len(chunks)
		info.Version++
		info.UpdatedAt = doc.CreatedAt
		data, err = encodeInfo(info)
		if err != nil {
			return err
		}
		return cb.Put(kInfo, data)
	})
	return stored, existed, err
}

// Collection implements rag.Store.
func (s *RAGStore) Collection(ctx context.Context, tenant, name string) (rag.Collection, error) {
	var c rag.Collection
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		cb := collectionBucket(tx, tenant, name)
		if cb == nil {
			return rag.ErrNotFound
		}
		var err error
		c, err = decodeInfo(tenant, name, cb.Get(kInfo))
		return err
	})
	return c, err
}

// Collections implements rag.Store.
func (s *RAGStore) Collections(ctx context.Context, tenant string) ([]rag.Collection, error) {
	var out []rag.Collection
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		tb := tx.Bucket(bRAG).Bucket(tenantKey(tenant))
		if tb == nil {
			return nil
		}
		return tb.ForEachBucket(func(k []byte) error {
			c, err := decodeInfo(tenant, string(k), tb.Bucket(k).Get(kInfo))
			if err != nil {
				return err
			}
			out = append(out, c)
			return nil
		})
	})
	return out, err
}

// Load implements rag.Store.
func (s *RAGStore) Load(ctx context.Context, tenant, name string) (rag.Collection, []rag.Chunk, error) {
	var c rag.Collection
	var chunks []rag.Chunk
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		cb := collectionBucket(tx, tenant, name)
		if cb == nil {
			return rag.ErrNotFound
		}
		var err error
		if c, err = decodeInfo(tenant, name, cb.Get(kInfo)); err != nil {
			return err
		}
		chunks = make([]rag.Chunk, 0, c.Chunks)
		bySeq := make(map[uint64]int, c.Chunks)
		cur := cb.Bucket(bRAGChunks).Cursor()
		for k, v := cur.First(); k != nil; k, v = cur.Next() {
			if len(k) != 8 {
				return fmt.Errorf("rag collection %q: damaged chunk key", name)
			}
			ch, err := decodeChunk(v)
			if err != nil {
				return err
			}
			bySeq[binary.BigEndian.Uint64(k)] = len(chunks)
			chunks = append(chunks, ch)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		cur = cb.Bucket(bRAGPost).Cursor()
		for k, v := cur.First(); k != nil; k, v = cur.Next() {
			if len(k) != 8 {
				return fmt.Errorf("rag collection %q: damaged postings key", name)
			}
			i, ok := bySeq[binary.BigEndian.Uint64(k)]
			if !ok {
				return fmt.Errorf("rag collection %q: postings of a missing chunk", name)
			}
			if chunks[i].Terms, err = rag.DecodePostings(v); err != nil {
				return err
			}
		}
		if c.Dim == 0 {
			return nil
		}
		cur = cb.Bucket(bRAGVecs).Cursor()
		for k, v := cur.First(); k != nil; k, v = cur.Next() {
			if len(k) != 8 {
				return fmt.Errorf("rag collection %q: damaged vector key", name)
			}
			vs, err := rag.DecodeVectors(v, c.Dim)
			if err != nil {
				return err
			}
			first := binary.BigEndian.Uint64(k)
			for j, vec := range vs {
				i, ok := bySeq[first+uint64(j)]
				if !ok {
					return fmt.Errorf("rag collection %q: a vector of a missing chunk", name)
				}
				chunks[i].Vector = vec
			}
		}
		return nil
	})
	return c, chunks, err
}

// SetVectors implements rag.Store.
func (s *RAGStore) SetVectors(ctx context.Context, tenant, name, embedder string, dim int, vectors [][]float32) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		cb := collectionBucket(tx, tenant, name)
		if cb == nil {
			return rag.ErrNotFound
		}
		c, err := decodeInfo(tenant, name, cb.Get(kInfo))
		if err != nil {
			return err
		}
		if c.Chunks != len(vectors) {
			return fmt.Errorf("%w: %d chunks, %d vectors", rag.ErrConflict, c.Chunks, len(vectors))
		}
		if err := cb.DeleteBucket(bRAGVecs); err != nil {
			return err
		}
		vecs, err := cb.CreateBucket(bRAGVecs)
		if err != nil {
			return err
		}
		vecs.FillPercent = 1
		// Runs of up to 64 consecutive chunks.
		var run [][]float32
		var runStart, prev uint64
		flush := func() error {
			if len(run) == 0 {
				return nil
			}
			err := vecs.Put(seqKey(runStart), rag.EncodeVectors(run))
			run = run[:0]
			return err
		}
		i := 0
		cur := cb.Bucket(bRAGChunks).Cursor()
		for k, _ := cur.First(); k != nil; k, _ = cur.Next() {
			if len(vectors[i]) != dim {
				return fmt.Errorf("rag vectors: %d dims, want %d", len(vectors[i]), dim)
			}
			seq := binary.BigEndian.Uint64(k)
			if len(run) > 0 && (seq != prev+1 || len(run) == 64) {
				if err := flush(); err != nil {
					return err
				}
			}
			if len(run) == 0 {
				runStart = seq
			}
			run = append(run, vectors[i])
			prev = seq
			i++
		}
		if err := flush(); err != nil {
			return err
		}
		c.Embedder, c.Dim = embedder, dim
		c.Version++
		data, err := encodeInfo(c)
		if err != nil {
			return err
		}
		return cb.Put(kInfo, data)
	})
}

// Delete implements rag.Store.
func (s *RAGStore) Delete(ctx context.Context, tenant, name string) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		tb := tx.Bucket(bRAG).Bucket(tenantKey(tenant))
		if tb == nil || tb.Bucket([]byte(name)) == nil {
			return rag.ErrNotFound
		}
		return tb.DeleteBucket([]byte(name))
	})
}
