package rag

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aria-node/aria/embedding"
)

// Input bounds.
const (
	// MaxContentBytes is the largest document an ingest takes.
	MaxContentBytes = 8 << 20
	MaxQueryBytes   = 4096
	MaxMetadata     = 64 << 10
)

// Reranker re-scores passages for a query (higher is more relevant).
type Reranker interface {
	Name() string
	Rerank(ctx context.Context, query string, passages []string) ([]float64, error)
}

// Options configures a Service.
type Options struct {
	// Embedder makes the vectors of semantic search; default the lexical embedder.
	Embedder embedding.Embedder
	// Reranker serves rerank; nil: rerank is unsupported (said in the response).
	Reranker Reranker
	Logger   *slog.Logger
	Now      func() time.Time
	// CacheChunks bounds the chunks kept in memory over all cached collections
	// (default 1<<20); NoCache loads the collection from the store on every search.
	CacheChunks int
	NoCache     bool
}

// Service ingests and searches collections. Searches run on an in-memory index per
// collection, loaded from the store on first use and reloaded when the collection's
// version changes (any write, on this node or, with PostgreSQL, another gateway).
type Service struct {
	store Store
	opts  Options
	log   *slog.Logger

	mu     sync.Mutex
	cache  map[cacheKey]*cacheEntry
	cached int // chunks in ready entries
	tick   int64
}

type cacheKey struct{ tenant, name string }

type cacheEntry struct {
	ready   chan struct{}
	ix      *index
	err     error
	version int64
	created time.Time
	used    int64
}

// New returns a service over store.
func New(store Store, opts Options) *Service {
	if opts.Embedder == nil {
		opts.Embedder = embedding.NewLexical()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CacheChunks <= 0 {
		opts.CacheChunks = 1 << 20
	}
	return &Service{store: store, opts: opts, log: opts.Logger, cache: map[cacheKey]*cacheEntry{}}
}

// EmbedderName is the vector space new vectors are made in.
func (s *Service) EmbedderName() string { return s.opts.Embedder.Name() }

// IngestRequest is one document for a collection. ChunkSize and ChunkOverlap (words)
// set a new collection's chunking; for an existing one they must match it.
type IngestRequest struct {
	Collection   string
	Content      string
	Metadata     json.RawMessage
	Strategy     string
	ChunkSize    *int
	ChunkOverlap *int
}

// IngestResult says what an ingest stored.
type IngestResult struct {
	Collection string
	DocumentID string
	ChunkIDs   []string
	// Created is the number of chunks stored: 0 when the content was there already
	// (Duplicate), whose chunk ids are returned.
	Created   int
	Duplicate bool
}

var collectionName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidateCollection checks a collection name: 1-64 letters, digits, '.', '_' or '-',
// starting with a letter or digit (so no path characters).
func ValidateCollection(name string) error {
	if name == "" {
		return invalid("collection", "is required")
	}
	if !collectionName.MatchString(name) {
		return invalid("collection", "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	return nil
}

// checkText refuses empty and binary text: NUL or other control characters (tabs,
// line breaks and form feeds are text), invalid UTF-8, or replacement characters in
// more than 1% of the runes (what a JSON decoder leaves of invalid bytes).
func checkText(field, text string, maxBytes int) error {
	if strings.TrimSpace(text) == "" {
		return invalid(field, "is required and must not be empty")
	}
	if len(text) > maxBytes {
		return invalid(field, "is %d bytes, over the limit of %d", len(text), maxBytes)
	}
	if !utf8.ValidString(text) {
		return invalid(field, "is not UTF-8 text (binary data is not accepted)")
	}
	runes, bad := 0, 0
	for _, r := range text {
		runes++
		if r == utf8.RuneError {
			bad++
		}
		if unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' && r != '\f' && r != '\v' {
			return invalid(field, "contains control character %U: binary data is not accepted, send text", r)
		}
	}
	if bad*100 > runes {
		return invalid(field, "is mostly undecodable bytes: binary data is not accepted, send text")
	}
	return nil
}

func checkMetadata(m json.RawMessage) (json.RawMessage, error) {
	m = bytes.TrimSpace(m)
	if len(m) == 0 || string(m) == "null" {
		return json.RawMessage(`{}`), nil
	}
	if len(m) > MaxMetadata {
		return nil, invalid("metadata", "is over %d bytes", MaxMetadata)
	}
	var obj map[string]any
	if m[0] != '{' || json.Unmarshal(m, &obj) != nil {
		return nil, invalid("metadata", "must be a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, m); err != nil {
		return nil, invalid("metadata", "must be a JSON object")
	}
	return buf.Bytes(), nil
}

// documentID is derived from the content alone, so re-ingesting it is idempotent.
func documentID(content string) string {
	sum := sha256.Sum256([]byte(content))
	return "src_" + hex.EncodeToString(sum[:12])
}

func chunkID(docID string, i int) string {
	sum := sha256.Sum256([]byte(docID + "/" + strconv.Itoa(i)))
	return "doc_" + hex.EncodeToString(sum[:8])
}

// Analyze is the term analysis of indexed text and queries (the lexical embedder's:
// lowercased words, stopwords dropped, light stemming).
func Analyze(text string) []string { return embedding.Terms(text) }

func termFreqs(text string) []TermFreq {
	counts := map[string]int{}
	for _, t := range Analyze(text) {
		counts[t]++
	}
	out := make([]TermFreq, 0, len(counts))
	for t, n := range counts {
		out = append(out, TermFreq{t, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Term < out[j].Term })
	return out
}

// Ingest chunks, indexes and embeds one document and stores it in one transaction:
// an acknowledged ingest is durable, a failed one leaves nothing behind.
func (s *Service) Ingest(ctx context.Context, tenant string, req IngestRequest) (IngestResult, error) {
	if err := ValidateCollection(req.Collection); err != nil {
		return IngestResult{}, err
	}
	if err := checkText("content", req.Content, MaxContentBytes); err != nil {
		return IngestResult{}, err
	}
	meta, err := checkMetadata(req.Metadata)
	if err != nil {
		return IngestResult{}, err
	}
	strategy := req.Strategy
	if strategy == "" {
		strategy = ChunkWord
	}
	cfg := DefaultChunking
	existing, err := s.store.Collection(ctx, tenant, req.Collection)
	switch {
	case err == nil:
		cfg = existing.Chunking
		if req.ChunkSize != nil && *req.ChunkSize != cfg.Size {
			return IngestResult{}, fmt.Errorf("%w: collection %q chunks by %d words; chunk_size %d would mix chunkings (delete it to change)", ErrConflict, req.Collection, cfg.Size, *req.ChunkSize)
		}
		if req.ChunkOverlap != nil && *req.ChunkOverlap != cfg.Overlap {
			return IngestResult{}, fmt.Errorf("%w: collection %q overlaps chunks by %d words; chunk_overlap %d would mix chunkings (delete it to change)", ErrConflict, req.Collection, cfg.Overlap, *req.ChunkOverlap)
		}
	case errors.Is(err, ErrNotFound):
		if req.ChunkSize != nil {
			cfg.Size = *req.ChunkSize
			cfg.Overlap = min(cfg.Overlap, cfg.Size/2)
		}
		if req.ChunkOverlap != nil {
			cfg.Overlap = *req.ChunkOverlap
		}
	default:
		return IngestResult{}, err
	}
	texts, err := Split(req.Content, strategy, cfg)
	if err != nil {
		return IngestResult{}, err
	}
	if len(texts) == 0 {
		return IngestResult{}, invalid("content", "has no words")
	}
	doc := Document{ID: documentID(req.Content), Strategy: strategy, Metadata: meta, CreatedAt: s.opts.Now().UTC()}
	chunks := make([]Chunk, len(texts))
	for i, t := range texts {
		chunks[i] = Chunk{ID: chunkID(doc.ID, i), DocumentID: doc.ID, Index: i, Content: t, Metadata: meta, Terms: termFreqs(t)}
		doc.ChunkIDs = append(doc.ChunkIDs, chunks[i].ID)
	}
	emb := s.opts.Embedder
	vecs, err := embedding.EmbedAll(ctx, emb, texts)
	if err != nil {
		return IngestResult{}, fmt.Errorf("embed chunks with %s: %w", emb.Name(), err)
	}
	dim := 0
	for i, v := range vecs {
		if i == 0 {
			dim = len(v)
		}
		if len(v) != dim || dim == 0 {
			return IngestResult{}, fmt.Errorf("embed chunks with %s: vectors of %d and %d dimensions", emb.Name(), dim, len(v))
		}
		chunks[i].Vector = v
	}
	c := Collection{Tenant: tenant, Name: req.Collection, Chunking: cfg, Embedder: emb.Name(), Dim: dim, CreatedAt: doc.CreatedAt}
	stored, existed, err := s.store.Ingest(ctx, c, doc, chunks)
	if errors.Is(err, ErrEmbedderChanged) {
		if err = s.reembed(ctx, tenant, req.Collection); err == nil {
			stored, existed, err = s.store.Ingest(ctx, c, doc, chunks)
		}
	}
	if err != nil {
		return IngestResult{}, err
	}
	s.invalidate(tenant, req.Collection)
	res := IngestResult{Collection: req.Collection, DocumentID: stored.ID, ChunkIDs: stored.ChunkIDs, Duplicate: existed}
	if !existed {
		res.Created = len(stored.ChunkIDs)
	}
	return res, nil
}

// reembed replaces a collection's vectors with the current embedder's, so vectors of
// two embedders (a model swap) are never compared.
func (s *Service) reembed(ctx context.Context, tenant, name string) error {
	emb := s.opts.Embedder
	for attempt := 0; ; attempt++ {
		c, chunks, err := s.store.Load(ctx, tenant, name)
		if err != nil {
			return err
		}
		if c.Embedder == emb.Name() {
			return nil
		}
		s.log.Info("rag: re-embedding a collection made by another embedder", "collection", name, "from", c.Embedder, "to", emb.Name(), "chunks", len(chunks))
		texts := make([]string, len(chunks))
		for i, ch := range chunks {
			texts[i] = ch.Content
		}
		vecs, err := embedding.EmbedAll(ctx, emb, texts)
		if err != nil {
			return fmt.Errorf("re-embed %s with %s: %w", name, emb.Name(), err)
		}
		dim := 0
		if len(vecs) > 0 {
			dim = len(vecs[0])
		}
		for _, v := range vecs {
			if len(v) != dim {
				return fmt.Errorf("re-embed %s with %s: vectors of %d and %d dimensions", name, emb.Name(), dim, len(v))
			}
		}
		err = s.store.SetVectors(ctx, tenant, name, emb.Name(), dim, vecs)
		if errors.Is(err, ErrConflict) && attempt < 3 {
			continue
		}
		s.invalidate(tenant, name)
		return err
	}
}

// SearchRequest is one search; TopK must be 1..MaxTopK.
type SearchRequest struct {
	Collection string
	Query      string
	Strategy   string
	TopK       int
	Rerank     bool
}

// Result is one ranked chunk.
type Result struct {
	ID         string
	DocumentID string
	Collection string
	Index      int
	Content    string
	Score      float64
	Metadata   json.RawMessage
}

// SearchResponse holds the ranked chunks and what became of a rerank request: ""
// (not asked), "unsupported", or the reranker's name.
type SearchResponse struct {
	Results []Result
	Rerank  string
}

// RerankUnsupported is SearchResponse.Rerank when no reranker is configured.
const RerankUnsupported = "unsupported"

func validStrategy(s string) bool {
	switch s {
	case Semantic, BM25, Fuzzy, Hybrid:
		return true
	}
	return false
}

// Search ranks the collection's chunks for the query.
func (s *Service) Search(ctx context.Context, tenant string, req SearchRequest) (SearchResponse, error) {
	if err := ValidateCollection(req.Collection); err != nil {
		return SearchResponse{}, err
	}
	if err := checkText("query", req.Query, MaxQueryBytes); err != nil {
		return SearchResponse{}, err
	}
	if req.Strategy == "" {
		req.Strategy = Hybrid
	}
	if !validStrategy(req.Strategy) {
		return SearchResponse{}, invalid("strategy", "unknown strategy %q (semantic, bm25, fuzzy or hybrid)", req.Strategy)
	}
	if req.TopK < 1 || req.TopK > MaxTopK {
		return SearchResponse{}, invalid("top_k", "must be between 1 and %d", MaxTopK)
	}
	ix, err := s.index(ctx, tenant, req.Collection)
	if err != nil {
		return SearchResponse{}, err
	}
	k := req.TopK
	if req.Rerank && s.opts.Reranker != nil {
		k = max(2*req.TopK, 20)
	}
	hits, err := s.rank(ctx, ix, req.Query, req.Strategy, k)
	if err != nil {
		return SearchResponse{}, err
	}
	var resp SearchResponse
	if req.Rerank {
		resp.Rerank = RerankUnsupported
		if s.opts.Reranker != nil {
			reranked, err := s.rerank(ctx, ix, req.Query, hits)
			switch {
			case err == nil:
				hits, resp.Rerank = reranked, s.opts.Reranker.Name()
			case !errors.Is(err, ErrRerankUnsupported):
				return SearchResponse{}, err
			}
		}
	}
	if len(hits) > req.TopK {
		hits = hits[:req.TopK]
	}
	resp.Results = make([]Result, len(hits))
	for i, h := range hits {
		ch := ix.chunks[h.chunk]
		resp.Results[i] = Result{ID: ch.ID, DocumentID: ch.DocumentID, Collection: ix.coll.Name, Index: ch.Index,
			Content: ch.Content, Score: h.score, Metadata: ch.Metadata}
	}
	return resp, nil
}

func (s *Service) rank(ctx context.Context, ix *index, query, strategy string, k int) ([]hit, error) {
	terms := Analyze(query)
	switch strategy {
	case BM25:
		return ix.bm25(exactWeights(terms), k), nil
	case Fuzzy:
		return ix.bm25(ix.fuzzyWeights(terms), k), nil
	}
	qv, err := s.opts.Embedder.Embed(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("embed query with %s: %w", s.opts.Embedder.Name(), err)
	}
	if strategy == Semantic {
		return ix.semantic(qv, k), nil
	}
	depth := max(4*k, 50)
	return fuse(k, ix.semantic(qv, depth), ix.bm25(exactWeights(terms), depth)), nil
}

func (s *Service) rerank(ctx context.Context, ix *index, query string, hits []hit) ([]hit, error) {
	if len(hits) == 0 {
		return hits, nil
	}
	passages := make([]string, len(hits))
	for i, h := range hits {
		passages[i] = ix.chunks[h.chunk].Content
	}
	scores, err := s.opts.Reranker.Rerank(ctx, query, passages)
	if err != nil {
		return nil, fmt.Errorf("rerank with %s: %w", s.opts.Reranker.Name(), err)
	}
	if len(scores) != len(hits) {
		return nil, fmt.Errorf("rerank with %s: %d scores for %d passages", s.opts.Reranker.Name(), len(scores), len(hits))
	}
	out := make([]hit, len(hits))
	for i, h := range hits {
		out[i] = hit{h.chunk, scores[i]}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].score > out[j].score })
	return out, nil
}

// CollectionInfo is a collection in a listing.
type CollectionInfo = Collection

// Collections lists the tenant's collections with their document and chunk counts.
func (s *Service) Collections(ctx context.Context, tenant string) ([]Collection, error) {
	return s.store.Collections(ctx, tenant)
}

// Delete removes a collection and everything indexed in it.
func (s *Service) Delete(ctx context.Context, tenant, name string) error {
	if err := ValidateCollection(name); err != nil {
		return err
	}
	err := s.store.Delete(ctx, tenant, name)
	s.invalidate(tenant, name)
	return err
}

// index returns the collection's in-memory index, loading it when it is not cached or
// the stored collection changed since.
func (s *Service) index(ctx context.Context, tenant, name string) (*index, error) {
	c, err := s.store.Collection(ctx, tenant, name)
	if err != nil {
		return nil, err
	}
	if c.Embedder != s.opts.Embedder.Name() && c.Chunks > 0 {
		if err := s.reembed(ctx, tenant, name); err != nil {
			return nil, err
		}
		if c, err = s.store.Collection(ctx, tenant, name); err != nil {
			return nil, err
		}
	}
	if s.opts.NoCache {
		return s.load(ctx, tenant, name)
	}
	key := cacheKey{tenant, name}
	s.mu.Lock()
	s.tick++
	e := s.cache[key]
	if e != nil && e.version == c.Version && e.created.Equal(c.CreatedAt) {
		e.used = s.tick
		s.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.err != nil {
			return nil, e.err
		}
		return e.ix, nil
	}
	if e != nil {
		s.drop(key, e)
	}
	e = &cacheEntry{ready: make(chan struct{}), version: c.Version, created: c.CreatedAt, used: s.tick}
	s.cache[key] = e
	s.mu.Unlock()

	e.ix, e.err = s.load(ctx, tenant, name)
	s.mu.Lock()
	if e.err != nil {
		if s.cache[key] == e {
			delete(s.cache, key)
		}
	} else if s.cache[key] == e {
		// The loaded data may be newer than c; key the entry by what was loaded.
		e.version, e.created = e.ix.coll.Version, e.ix.coll.CreatedAt
		s.cached += len(e.ix.chunks)
		s.evict(key)
	}
	s.mu.Unlock()
	close(e.ready)
	return e.ix, e.err
}

func (s *Service) load(ctx context.Context, tenant, name string) (*index, error) {
	c, chunks, err := s.store.Load(ctx, tenant, name)
	if err != nil {
		return nil, err
	}
	if c.Embedder != s.opts.Embedder.Name() {
		c.Dim = 0 // not comparable with this embedder's queries: no semantic hits
	}
	return buildIndex(c, chunks), nil
}

// drop removes an entry (s.mu held).
func (s *Service) drop(key cacheKey, e *cacheEntry) {
	delete(s.cache, key)
	select {
	case <-e.ready:
		if e.ix != nil {
			s.cached -= len(e.ix.chunks)
		}
	default:
	}
}

// evict drops least recently used entries other than keep until the cache fits
// (s.mu held).
func (s *Service) evict(keep cacheKey) {
	for s.cached > s.opts.CacheChunks {
		var victim cacheKey
		var ve *cacheEntry
		for k, e := range s.cache {
			if k == keep {
				continue
			}
			select {
			case <-e.ready:
			default:
				continue
			}
			if ve == nil || e.used < ve.used {
				victim, ve = k, e
			}
		}
		if ve == nil {
			return
		}
		s.drop(victim, ve)
	}
}

func (s *Service) invalidate(tenant, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := cacheKey{tenant, name}
	if e := s.cache[key]; e != nil {
		s.drop(key, e)
	}
}
