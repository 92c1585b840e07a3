package bolt

import (
	"encoding/binary"
	"testing"

	"github.com/aria-node/aria/rag"
)

// FuzzRAGRecords feeds arbitrary stored bytes to every decoder of the RAG buckets: a
// record decodes or is an error, never a panic or an impossible value.
func FuzzRAGRecords(f *testing.F) {
	f.Add([]byte(`{"chunk_size":200,"chunk_overlap":40,"embedder":"e","dim":2,"documents":1,"chunks":1}`), []byte("term\x00\x00\x00\x00\x00\x00\x00\x00\x01"), []byte{2})
	f.Add([]byte(`{"id":"doc_1","document_id":"src_1","index":0,"content":"x","metadata":{}}`), []byte("no-separator"), []byte{0x80})
	f.Add([]byte(`{"dim":-1}`), []byte("\x00"), binary.AppendUvarint(nil, 1<<40))
	f.Fuzz(func(t *testing.T, record, key, value []byte) {
		if c, err := decodeInfo("t", "c", record); err == nil && (c.Dim < 0 || c.Dim > rag.MaxDim || c.Chunks < 0 || c.Documents < 0) {
			t.Fatalf("impossible collection %+v", c)
		}
		if ch, err := decodeChunk(record); err == nil && (ch.ID == "" || ch.Index < 0) {
			t.Fatalf("impossible chunk %+v", ch)
		}
		if term, _, tf, err := decodePosting(key, value); err == nil && (tf <= 0 || len(term)+9 != len(key)) {
			t.Fatalf("impossible posting %q %d", term, tf)
		}
		for _, dim := range []int{1, 2, len(value) / 4, 1 << 20} {
			v, err := rag.DecodeVector(value, dim)
			if err == nil && len(v) != dim {
				t.Fatalf("vector of %d for %d dims", len(v), dim)
			}
		}
	})
}
