package ares

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aria-node/aria/rag"
)

// ragBodyLimit is the largest ingest body: the largest document plus room for JSON
// escaping and metadata. Larger bodies are 413.
const ragBodyLimit = rag.MaxContentBytes + 1<<20

// ragRoutes serves the RAG API on the tenant's collections: a JWT or API key names
// the tenant; a node in open mode serves unauthenticated calls from its own namespace.
func (p *Platform) ragRoutes(mux *http.ServeMux) {
	for _, rt := range []route{
		{"/api/rag/ingest", map[string]http.HandlerFunc{"POST": p.ragIngest}},
		{"/api/rag/search", map[string]http.HandlerFunc{"POST": p.ragSearch}},
		{"/api/rag/collections", map[string]http.HandlerFunc{"GET": p.ragCollections}},
		{"/api/rag/collection", map[string]http.HandlerFunc{"DELETE": p.ragDelete}},
	} {
		mux.Handle(rt.pattern, p.session(dispatch(rt.methods)))
	}
}

type ragIngestRequest struct {
	Collection       string          `json:"collection"`
	Content          *string         `json:"content"`
	Metadata         json.RawMessage `json:"metadata"`
	ChunkingStrategy string          `json:"chunking_strategy"`
	ChunkSize        *int            `json:"chunk_size"`
	ChunkOverlap     *int            `json:"chunk_overlap"`
}

type ragIngestResponse struct {
	ChunksCreated int      `json:"chunks_created"`
	DocumentIDs   []string `json:"document_ids"`
	Collection    string   `json:"collection"`
	// DocumentID is the ingested document's id (its content's hash); Duplicate says
	// the same content was there already and nothing was stored.
	DocumentID string `json:"document_id"`
	Duplicate  bool   `json:"duplicate"`
}

type ragSearchRequest struct {
	Collection string  `json:"collection"`
	Query      *string `json:"query"`
	Strategy   string  `json:"strategy"`
	TopK       *int    `json:"top_k"`
	Rerank     bool    `json:"rerank"`
}

type ragResult struct {
	ID         string          `json:"id"`
	DocumentID string          `json:"document_id"`
	Collection string          `json:"collection"`
	ChunkIndex int             `json:"chunk_index"`
	Content    string          `json:"content"`
	Score      float64         `json:"score"`
	Metadata   json.RawMessage `json:"metadata"`
}

type ragCollection struct {
	Name         string    `json:"name"`
	Documents    int       `json:"documents"`
	Chunks       int       `json:"chunks"`
	ChunkSize    int       `json:"chunk_size"`
	ChunkOverlap int       `json:"chunk_overlap"`
	Embedder     string    `json:"embedder"`
	Dimensions   int       `json:"dimensions"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// decodeRAG reads a JSON body of at most limit bytes: 413 over it, 400 naming the
// field of a wrongly typed value.
func decodeRAG(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeARES(w, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE",
			fmt.Sprintf("Request body over the limit of %d bytes (content: documents up to %d bytes)", limit, rag.MaxContentBytes))
		return false
	}
	if err != nil {
		writeARES(w, http.StatusBadRequest, "BAD_REQUEST", "Request body unreadable")
		return false
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		writeARES(w, http.StatusBadRequest, "BAD_REQUEST", "Request body is required (JSON)")
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			writeARES(w, http.StatusBadRequest, "BAD_REQUEST", fmt.Sprintf("%s: must be a JSON %s", te.Field, jsonKind(te.Type.Kind().String())))
			return false
		}
		writeARES(w, http.StatusBadRequest, "BAD_REQUEST", "Invalid JSON in request body")
		return false
	}
	return true
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int64", "float64":
		return "number"
	case "bool":
		return "boolean"
	case "ptr":
		return "value of the documented type"
	}
	return goKind
}

// ragFail maps the rag package's errors to statuses.
func (p *Platform) ragFail(w http.ResponseWriter, r *http.Request, collection string, err error) {
	var ve *rag.ValidationError
	switch {
	case errors.As(err, &ve):
		writeARES(w, http.StatusBadRequest, "BAD_REQUEST", ve.Error())
	case errors.Is(err, rag.ErrNotFound):
		writeARES(w, http.StatusNotFound, "NOT_FOUND", "Collection not found: "+collection)
	case errors.Is(err, rag.ErrConflict):
		writeARES(w, http.StatusConflict, "CONFLICT", err.Error())
	case r.Context().Err() != nil:
		p.log.Info("rag request abandoned", "path", r.URL.Path, "err", err)
	default:
		p.serverError(w, r, shapeARES, err)
	}
}

func (p *Platform) ragIngest(w http.ResponseWriter, r *http.Request) {
	var req ragIngestRequest
	if !decodeRAG(w, r, ragBodyLimit, &req) {
		return
	}
	if req.Content == nil {
		writeARES(w, http.StatusBadRequest, "BAD_REQUEST", "content: is required")
		return
	}
	res, err := p.cfg.RAG.Ingest(r.Context(), principal(r.Context()).TenantID, rag.IngestRequest{
		Collection: req.Collection, Content: *req.Content, Metadata: req.Metadata, Strategy: req.ChunkingStrategy,
		ChunkSize: req.ChunkSize, ChunkOverlap: req.ChunkOverlap})
	if err != nil {
		p.ragFail(w, r, req.Collection, err)
		return
	}
	status := http.StatusCreated
	if res.Duplicate {
		status = http.StatusOK
	}
	writeJSON(w, status, ragIngestResponse{ChunksCreated: res.Created, DocumentIDs: res.ChunkIDs, Collection: res.Collection,
		DocumentID: res.DocumentID, Duplicate: res.Duplicate})
}

func (p *Platform) ragSearch(w http.ResponseWriter, r *http.Request) {
	var req ragSearchRequest
	if !decodeRAG(w, r, maxBody, &req) {
		return
	}
	if req.Query == nil {
		writeARES(w, http.StatusBadRequest, "BAD_REQUEST", "query: is required")
		return
	}
	topK := rag.DefaultTopK
	if req.TopK != nil {
		topK = *req.TopK
	}
	resp, err := p.cfg.RAG.Search(r.Context(), principal(r.Context()).TenantID, rag.SearchRequest{
		Collection: req.Collection, Query: *req.Query, Strategy: req.Strategy, TopK: topK, Rerank: req.Rerank})
	if err != nil {
		p.ragFail(w, r, req.Collection, err)
		return
	}
	if resp.Rerank != "" {
		w.Header().Set("X-Rerank", resp.Rerank)
	}
	out := make([]ragResult, len(resp.Results))
	for i, x := range resp.Results {
		out[i] = ragResult{ID: x.ID, DocumentID: x.DocumentID, Collection: x.Collection, ChunkIndex: x.Index,
			Content: x.Content, Score: x.Score, Metadata: x.Metadata}
	}
	writeJSON(w, http.StatusOK, out)
}

func (p *Platform) ragCollections(w http.ResponseWriter, r *http.Request) {
	cs, err := p.cfg.RAG.Collections(r.Context(), principal(r.Context()).TenantID)
	if err != nil {
		p.ragFail(w, r, "", err)
		return
	}
	out := make([]ragCollection, len(cs))
	for i, c := range cs {
		out[i] = ragCollection{Name: c.Name, Documents: c.Documents, Chunks: c.Chunks, ChunkSize: c.Chunking.Size,
			ChunkOverlap: c.Chunking.Overlap, Embedder: c.Embedder, Dimensions: c.Dim, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	}
	writeJSON(w, http.StatusOK, map[string]any{"collections": out})
}

func (p *Platform) ragDelete(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Collection string `json:"collection"`
	}
	if q := r.URL.Query().Get("collection"); q != "" && (r.ContentLength == 0 || r.Body == http.NoBody) {
		req.Collection = q
	} else if !decodeRAG(w, r, maxBody, &req) {
		return
	}
	if err := p.cfg.RAG.Delete(r.Context(), principal(r.Context()).TenantID, req.Collection); err != nil {
		p.ragFail(w, r, req.Collection, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": true, "collection": req.Collection})
}
