package rag

import "context"

// Store keeps collections, documents, chunks, postings and vectors. Every method is
// scoped by tenant: another tenant's collection does not exist (ErrNotFound).
// storage/bolt and storage/postgres implement it; rag/storetest is the behaviour both
// must have.
type Store interface {
	// Ingest stores doc with its chunks in one transaction, creating the collection
	// from c when it is absent (an existing one keeps its chunking). When the
	// collection already holds doc.ID it stores nothing and returns the stored
	// document with existed true. Vectors must be from c.Embedder (length c.Dim) or
	// the call fails with ErrEmbedderChanged; c.Embedder "" stores no vectors.
	Ingest(ctx context.Context, c Collection, doc Document, chunks []Chunk) (stored Document, existed bool, err error)
	// Collection returns one collection's record.
	Collection(ctx context.Context, tenant, name string) (Collection, error)
	// Collections lists a tenant's collections by name.
	Collections(ctx context.Context, tenant string) ([]Collection, error)
	// Load returns a collection with all its chunks in ingest order, postings and
	// vectors included.
	Load(ctx context.Context, tenant, name string) (Collection, []Chunk, error)
	// SetVectors replaces every vector of the collection (vectors[i] for the i-th
	// chunk in ingest order) and records the embedder that made them, atomically.
	// It fails with ErrConflict when the chunk count is not len(vectors) (a write
	// came in between).
	SetVectors(ctx context.Context, tenant, name, embedder string, dim int, vectors [][]float32) error
	// Delete removes the collection with its documents, chunks, postings and vectors.
	Delete(ctx context.Context, tenant, name string) error
}
