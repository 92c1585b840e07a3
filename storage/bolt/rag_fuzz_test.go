package bolt

import (
	"encoding/binary"
	"testing"

	"github.com/aria-node/aria/rag"
)

// FuzzRAGRecords feeds arbitrary stored bytes to every decoder of the RAG records (the
// bbolt buckets, and the vectors and postings PostgreSQL keeps as bytea too): a
// record decodes or is an error, never a panic or an impossible value.
func FuzzRAGRecords(f *testing.F) {
	f.Add([]byte(`{"chunk_size":200,"chunk_overlap":40,"embedder":"e","dim":2,"documents":1,"chunks":1}`), rag.EncodePostings([]rag.TermFreq{{Term: "term", TF: 2}, {Term: "zeta", TF: 1}}), []byte{2})
	f.Add([]byte(`{"id":"doc_1","document_id":"src_1","index":0,"content":"x","metadata":{}}`), []byte("no-separator"), []byte{0x80})
	f.Add([]byte(`{"dim":-1}`), []byte("\x00"), binary.AppendUvarint(nil, 1<<40))
	f.Fuzz(func(t *testing.T, record, key, value []byte) {
		if c, err := decodeInfo("t", "c", record); err == nil && (c.Dim < 0 || c.Dim > rag.MaxDim || c.Chunks < 0 || c.Documents < 0) {
			t.Fatalf("impossible collection %+v", c)
		}
		if ch, err := decodeChunk(record); err == nil && (ch.ID == "" || ch.Index < 0) {
			t.Fatalf("impossible chunk %+v", ch)
		}
		if ps, err := rag.DecodePostings(key); err == nil {
			for _, p := range ps {
				if p.TF <= 0 || p.Term == "" || len(p.Term) > rag.MaxTermBytes {
					t.Fatalf("impossible posting %+v", p)
				}
			}
			if again, err := rag.DecodePostings(rag.EncodePostings(ps)); err != nil || len(again) != len(ps) {
				t.Fatalf("postings do not round-trip: %v", err)
			}
		}
		for _, dim := range []int{1, 2, len(value) / 4, 1 << 20} {
			v, err := rag.DecodeVector(value, dim)
			if err == nil && len(v) != dim {
				t.Fatalf("vector of %d for %d dims", len(v), dim)
			}
			if vs, err := rag.DecodeVectors(value, dim); err == nil {
				for _, v := range vs {
					if len(v) != dim {
						t.Fatalf("a vector of %d in a run of %d dims", len(v), dim)
					}
				}
			}
		}
	})
}
