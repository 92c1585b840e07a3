// Package rag owns retrieval for the ARES platform: chunking, a BM25 inverted index,
// fuzzy (typo-tolerant) term matching, vectors with cosine search, hybrid rank fusion
// and reranking, over per-tenant collections kept behind a small Store.
package rag

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Retrieval strategies of a search.
const (
	Semantic = "semantic"
	BM25     = "bm25"
	Fuzzy    = "fuzzy"
	Hybrid   = "hybrid"
)

// Chunking strategies of an ingest.
const (
	ChunkWord      = "word"
	ChunkSentence  = "sentence"
	ChunkParagraph = "paragraph"
)

// Defaults and bounds of a search.
const (
	DefaultTopK = 5
	MaxTopK     = 100
)

// Errors the HTTP layer maps to a status.
var (
	ErrNotFound = errors.New("collection not found")
	// ErrConflict: the request disagrees with how the collection was set up.
	ErrConflict = errors.New("conflict")
	// ErrEmbedderChanged (from a Store): the collection's vectors come from another
	// embedder than the one offered; the service re-embeds and retries.
	ErrEmbedderChanged = errors.New("collection embedded with another embedder")
	// ErrRerankUnsupported (from a Reranker): nothing here can rerank now; the search
	// answers unreranked and says so.
	ErrRerankUnsupported = errors.New("rerank is not supported")
)

// ValidationError is bad input; Field names the request field at fault.
type ValidationError struct {
	Field string
	Msg   string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Msg }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Collection is a tenant's named set of documents and how they were chunked and
// embedded.
type Collection struct {
	Tenant   string
	Name     string
	Chunking ChunkConfig
	// Embedder names the vector space of the collection's vectors (embedding.Embedder
	// Name) and Dim their length; vectors of another space are never mixed in.
	Embedder  string
	Dim       int
	Documents int
	Chunks    int
	// Version grows with every write; with CreatedAt it tells a cache it is stale.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Document is one ingested content: its id is derived from the content's hash, so the
// same content ingested again is found, not stored twice.
type Document struct {
	ID        string
	Strategy  string
	Metadata  json.RawMessage
	ChunkIDs  []string
	CreatedAt time.Time
}

// Chunk is a passage of a document with its postings (term frequencies) and vector.
type Chunk struct {
	ID         string
	DocumentID string
	Index      int
	Content    string
	Metadata   json.RawMessage
	Terms      []TermFreq // sorted by term
	Vector     []float32
}

// TermFreq is one posting of a chunk: a term and how often it occurs.
type TermFreq struct {
	Term string
	TF   int
}

// Length is the chunk's number of terms (BM25's document length).
func (c Chunk) Length() int {
	n := 0
	for _, t := range c.Terms {
		n += t.TF
	}
	return n
}
