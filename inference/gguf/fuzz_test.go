package gguf

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strconv"
	"testing"
)

// fuzzSeeds returns small valid files and corrupted variants that reach the
// interesting branches of the decoder. They are both passed to f.Add and
// checked in under testdata/fuzz/FuzzDecode (see TestWriteFuzzCorpus).
func fuzzSeeds(tb testing.TB) map[string][]byte {
	valid := buildFile(tb, nil, 1<<20)
	truncated := valid[:len(valid)-100]
	return map[string][]byte{
		"valid":           valid,
		"valid_align64":   buildFile(tb, []KV{{KeyAlignment, uint32(64)}}, 1<<20),
		"metadata_only":   rawFile([][]byte{kvStr("general.architecture", "llama"), kvU32(KeyAlignment, 16)}, nil, 0),
		"one_tensor":      rawFile([][]byte{kvStr("general.name", "t")}, [][]byte{tinfo("w", TypeTQ2_0, 0, 256)}, 96),
		"truncated":       truncated,
		"bad_magic":       append([]byte("GGML"), valid[4:64]...),
		"v1":              new(raw).raw([]byte("GGUF")).u32(1).u32(0).u32(0).Bytes(),
		"huge_string":     rawFile([][]byte{new(raw).str("k").u32(uint32(ValueTypeString)).u64(math.MaxUint64).Bytes()}, nil, 64),
		"huge_array":      rawFile([][]byte{new(raw).str("k").u32(uint32(ValueTypeArray)).u32(uint32(ValueTypeString)).u64(1 << 40).Bytes()}, nil, 64),
		"nested_array":    rawFile([][]byte{new(raw).str("k").u32(uint32(ValueTypeArray)).u32(uint32(ValueTypeArray)).u64(1).Bytes()}, nil, 64),
		"type_36_i2s":     rawFile(nil, [][]byte{tinfo("blk.0.attn_q.weight", 36, 0, 256)}, 64),
		"overlap":         rawFile(nil, [][]byte{tinfo("a", TypeF32, 0, 16), tinfo("b", TypeF32, 32, 16)}, 128),
		"ne0_not_aligned": rawFile(nil, [][]byte{tinfo("a", TypeTQ1_0, 0, 100)}, 64),
	}
}

// heapAllocBytes reads the cumulative heap allocation counter without
// stopping the world (unlike runtime.ReadMemStats), cheap enough to call for
// every fuzz input.
func heapAllocBytes() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// reencode writes f back with the Writer, taking tensor data from src.
func reencode(t *testing.T, f *File, src []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, kv := range f.KV {
		if err := w.AddKV(kv.Key, kv.Value); err != nil {
			t.Fatalf("decoded KV %q rejected by the writer: %v", kv.Key, err)
		}
	}
	for _, ti := range f.Tensors {
		if err := w.AddTensor(ti.Name, ti.Type, ti.Dims...); err != nil {
			t.Fatalf("decoded tensor rejected by the writer: %v", err)
		}
	}
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	for _, ti := range f.Tensors {
		start := f.DataOffset + int64(ti.Offset)
		if err := w.WriteTensorData(ti.Name, src[start:start+int64(ti.Size())]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func FuzzDecode(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The import decoder (I2_S allowed, any non-overlapping layout) must
		// accept everything Decode accepts and keep every tensor inside the file.
		imp, ierr := DecodeForImport(bytes.NewReader(data), int64(len(data)))
		if ierr == nil {
			for _, ti := range imp.Tensors {
				if end := imp.DataOffset + int64(ti.Offset) + int64(ti.Size()); end > int64(len(data)) || end < imp.DataOffset {
					t.Fatalf("import decoder: tensor %q ends at %d, past the %d-byte file", ti.Name, end, len(data))
				}
			}
		}
		before := heapAllocBytes()
		file, err := decodeBytes(data)
		if err == nil && ierr != nil {
			t.Fatalf("Decode accepts what DecodeForImport refuses: %v", ierr)
		}
		// Allocation must follow the input size, never a count or length
		// read from it. The slack covers the read buffer and the runtime's
		// per-P allocation caches, which the counter sees late.
		if got, limit := heapAllocBytes()-before, uint64(1<<20+64*len(data)); got > limit {
			t.Fatalf("decoding %d bytes allocated %d bytes (limit %d)", len(data), got, limit)
		}
		if err != nil {
			if !errors.Is(err, ErrNotGGUF) && !errors.Is(err, ErrTruncated) &&
				!errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnsupportedType) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}

		if file.DataOffset%int64(file.Alignment) != 0 {
			t.Fatalf("data offset %d not aligned to %d", file.DataOffset, file.Alignment)
		}
		var end uint64
		for _, ti := range file.Tensors {
			if ti.Offset < end {
				t.Fatalf("tensor %q at %d overlaps previous data ending at %d", ti.Name, ti.Offset, end)
			}
			end = ti.Offset + ti.Size()
			if file.DataOffset+int64(end) > int64(len(data)) {
				t.Fatalf("tensor %q ends at %d, past the %d-byte file", ti.Name, file.DataOffset+int64(end), len(data))
			}
		}

		// Whatever Decode accepts, the Writer must be able to write, and
		// the result must decode to the same thing: comparing encodings
		// (rather than values) keeps NaN metadata comparable.
		enc := reencode(t, file, data)
		again, err := decodeBytes(enc)
		if err != nil {
			t.Fatalf("re-encoded file does not decode: %v", err)
		}
		if enc2 := reencode(t, again, enc); !bytes.Equal(enc, enc2) {
			t.Fatal("re-encoding is not stable")
		}
	})
}

// TestWriteFuzzCorpus regenerates the checked-in seed corpus:
//
//	GGUF_WRITE_FUZZ_CORPUS=1 go test -run TestWriteFuzzCorpus ./inference/gguf/
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("GGUF_WRITE_FUZZ_CORPUS") == "" {
		t.Skip("set GGUF_WRITE_FUZZ_CORPUS=1 to rewrite testdata/fuzz/FuzzDecode")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range fuzzSeeds(t) {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(b)))
		if err := os.WriteFile(filepath.Join(dir, "seed_"+name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
