package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aria-node/aria/rag"
	"github.com/aria-node/aria/tenancy"
)

// RAGStore is rag.Store on PostgreSQL (tables ares_rag_*; no extension needed:
// vectors are bytea, searched in memory by the rag service).
type RAGStore struct{ pool *pgxpool.Pool }

var _ rag.Store = (*RAGStore)(nil)

// RAG returns the RAG store on the same database (closed with s).
func (s *Store) RAG() *RAGStore { return &RAGStore{pool: s.pool} }

// ragWrap maps a missing row to rag.ErrNotFound and a database that is down to
// tenancy.ErrUnavailable (a 503).
func ragWrap(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return rag.ErrNotFound
	case errors.Is(err, rag.ErrNotFound), errors.Is(err, rag.ErrConflict), errors.Is(err, rag.ErrEmbedderChanged):
		return err
	}
	w := wrap(what, err)
	if errors.Is(w, tenancy.ErrNotFound) {
		return rag.ErrNotFound
	}
	return w
}

const collectionColumns = `chunk_size, chunk_overlap, embedder, dim, documents, chunks, version, created_at, updated_at`

func scanCollection(row pgx.Row, tenant, name string) (rag.Collection, error) {
	c := rag.Collection{Tenant: tenant, Name: name}
	err := row.Scan(&c.Chunking.Size, &c.Chunking.Overlap, &c.Embedder, &c.Dim, &c.Documents, &c.Chunks, &c.Version, &c.CreatedAt, &c.UpdatedAt)
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, err
}

// Ingest implements rag.Store.
func (s *RAGStore) Ingest(ctx context.Context, c rag.Collection, doc rag.Document, chunks []rag.Chunk) (rag.Document, bool, error) {
	stored, existed := doc, false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO ares_rag_collections (tenant_id, name, chunk_size, chunk_overlap, embedder, dim, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT DO NOTHING`,
			c.Tenant, c.Name, c.Chunking.Size, c.Chunking.Overlap, c.Embedder, c.Dim, c.CreatedAt)
		if err != nil {
			return err
		}
		info, err := scanCollection(tx.QueryRow(ctx, `SELECT `+collectionColumns+` FROM ares_rag_collections
			WHERE tenant_id = $1 AND name = $2 FOR UPDATE`, c.Tenant, c.Name), c.Tenant, c.Name)
		if err != nil {
			return err
		}
		var meta []byte
		err = tx.QueryRow(ctx, `SELECT strategy, metadata, chunk_ids, created_at FROM ares_rag_documents
			WHERE tenant_id = $1 AND collection = $2 AND id = $3`, c.Tenant, c.Name, doc.ID).
			Scan(&stored.Strategy, &meta, &stored.ChunkIDs, &stored.CreatedAt)
		if err == nil {
			stored.Metadata, stored.CreatedAt, existed = meta, stored.CreatedAt.UTC(), true
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if info.Chunks == 0 {
			info.Embedder, info.Dim = c.Embedder, c.Dim
		} else if info.Embedder != c.Embedder || info.Dim != c.Dim {
			return fmt.Errorf("%w: %s (%d dims), offered %s (%d dims)", rag.ErrEmbedderChanged, info.Embedder, info.Dim, c.Embedder, c.Dim)
		}
		chunkRows := make([][]any, len(chunks))
		for i, ch := range chunks {
			seq := int64(info.Chunks + i + 1)
			var vec []byte
			if c.Embedder != "" {
				if len(ch.Vector) != c.Dim {
					return fmt.Errorf("rag ingest: a vector of %d dims in a collection of %d", len(ch.Vector), c.Dim)
				}
				vec = rag.EncodeVector(ch.Vector)
			}
			chunkRows[i] = []any{c.Tenant, c.Name, seq, ch.ID, ch.DocumentID, ch.Index, ch.Content, []byte(orEmpty(ch.Metadata)), vec,
				rag.EncodePostings(ch.Terms)}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"ares_rag_chunks"},
			[]string{"tenant_id", "collection", "seq", "id", "document_id", "idx", "content", "metadata", "vector", "postings"},
			pgx.CopyFromRows(chunkRows)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO ares_rag_documents (tenant_id, collection, id, strategy, metadata, chunk_ids, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, c.Tenant, c.Name, doc.ID, doc.Strategy, []byte(orEmpty(doc.Metadata)), doc.ChunkIDs, doc.CreatedAt); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE ares_rag_collections SET embedder = $3, dim = $4, documents = documents + 1,
			chunks = chunks + $5, version = version + 1, updated_at = $6 WHERE tenant_id = $1 AND name = $2`,
			c.Tenant, c.Name, info.Embedder, info.Dim, len(chunks), doc.CreatedAt)
		return err
	})
	return stored, existed, ragWrap("rag ingest", err)
}

func orEmpty(m json.RawMessage) json.RawMessage {
	if len(m) == 0 {
		return json.RawMessage(`{}`)
	}
	return m
}

// Collection implements rag.Store.
func (s *RAGStore) Collection(ctx context.Context, tenant, name string) (rag.Collection, error) {
	c, err := scanCollection(s.pool.QueryRow(ctx, `SELECT `+collectionColumns+` FROM ares_rag_collections
		WHERE tenant_id = $1 AND name = $2`, tenant, name), tenant, name)
	return c, ragWrap("rag collection", err)
}

// Collections implements rag.Store.
func (s *RAGStore) Collections(ctx context.Context, tenant string) ([]rag.Collection, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, `+collectionColumns+` FROM ares_rag_collections
		WHERE tenant_id = $1 ORDER BY name COLLATE "C"`, tenant)
	if err != nil {
		return nil, ragWrap("rag collections", err)
	}
	defer rows.Close()
	var out []rag.Collection
	for rows.Next() {
		c := rag.Collection{Tenant: tenant}
		if err := rows.Scan(&c.Name, &c.Chunking.Size, &c.Chunking.Overlap, &c.Embedder, &c.Dim, &c.Documents, &c.Chunks,
			&c.Version, &c.CreatedAt, &c.UpdatedAt); err != nil {
			return nil, ragWrap("rag collections", err)
		}
		c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
		out = append(out, c)
	}
	return out, ragWrap("rag collections", rows.Err())
}

// Load implements rag.Store: one repeatable-read snapshot, so the collection record
// and its chunks agree.
func (s *RAGStore) Load(ctx context.Context, tenant, name string) (rag.Collection, []rag.Chunk, error) {
	var c rag.Collection
	var chunks []rag.Chunk
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		c, err = scanCollection(tx.QueryRow(ctx, `SELECT `+collectionColumns+` FROM ares_rag_collections
			WHERE tenant_id = $1 AND name = $2`, tenant, name), tenant, name)
		if err != nil {
			return err
		}
		chunks = make([]rag.Chunk, 0, c.Chunks)
		rows, err := tx.Query(ctx, `SELECT id, document_id, idx, content, metadata, vector, postings FROM ares_rag_chunks
			WHERE tenant_id = $1 AND collection = $2 ORDER BY seq`, tenant, name)
		if err != nil {
			return err
		}
		for rows.Next() {
			var ch rag.Chunk
			var meta, vec, post []byte
			if err := rows.Scan(&ch.ID, &ch.DocumentID, &ch.Index, &ch.Content, &meta, &vec, &post); err != nil {
				rows.Close()
				return err
			}
			ch.Metadata = meta
			if ch.Terms, err = rag.DecodePostings(post); err != nil {
				rows.Close()
				return err
			}
			if c.Dim > 0 && vec != nil {
				if ch.Vector, err = rag.DecodeVector(vec, c.Dim); err != nil {
					rows.Close()
					return err
				}
			}
			chunks = append(chunks, ch)
		}
		rows.Close()
		return rows.Err()
	})
	return c, chunks, ragWrap("rag load", err)
}

// SetVectors implements rag.Store.
func (s *RAGStore) SetVectors(ctx context.Context, tenant, name, embedder string, dim int, vectors [][]float32) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var chunks int
		if err := tx.QueryRow(ctx, `SELECT chunks FROM ares_rag_collections WHERE tenant_id = $1 AND name = $2 FOR UPDATE`,
			tenant, name).Scan(&chunks); err != nil {
			return err
		}
		if chunks != len(vectors) {
			return fmt.Errorf("%w: %d chunks, %d vectors", rag.ErrConflict, chunks, len(vectors))
		}
		var b pgx.Batch
		for i, v := range vectors {
			if len(v) != dim {
				return fmt.Errorf("rag vectors: %d dims, want %d", len(v), dim)
			}
			b.Queue(`UPDATE ares_rag_chunks SET vector = $4 WHERE tenant_id = $1 AND collection = $2 AND seq = $3`,
				tenant, name, int64(i+1), rag.EncodeVector(v))
		}
		b.Queue(`UPDATE ares_rag_collections SET embedder = $3, dim = $4, version = version + 1 WHERE tenant_id = $1 AND name = $2`,
			tenant, name, embedder, dim)
		return tx.SendBatch(ctx, &b).Close()
	})
	return ragWrap("rag vectors", err)
}

// Delete implements rag.Store: the collection's rows cascade to its documents and
// chunks (with their vectors and postings).
func (s *RAGStore) Delete(ctx context.Context, tenant, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM ares_rag_collections WHERE tenant_id = $1 AND name = $2`, tenant, name)
	if err != nil {
		return ragWrap("rag delete", err)
	}
	if tag.RowsAffected() == 0 {
		return rag.ErrNotFound
	}
	return nil
}
