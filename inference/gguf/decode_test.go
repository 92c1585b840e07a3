package gguf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func decodeBytes(b []byte) (*File, error) {
	return Decode(bytes.NewReader(b), int64(len(b)))
}

func TestRoundTrip(t *testing.T) {
	for _, chunk := range []int{1, 7, 1 << 20} {
		t.Run(fmt.Sprintf("chunk=%d", chunk), func(t *testing.T) {
			b := buildFile(t, nil, chunk)
			f, err := decodeBytes(b)
			if err != nil {
				t.Fatal(err)
			}
			if f.Version != 3 || f.Alignment != 32 || f.Size != int64(len(b)) {
				t.Errorf("version %d alignment %d size %d", f.Version, f.Alignment, f.Size)
			}
			if !reflect.DeepEqual(f.KV, allKinds()) {
				t.Errorf("KV mismatch:\n got %#v\nwant %#v", f.KV, allKinds())
			}
			if f.DataOffset%32 != 0 {
				t.Errorf("DataOffset %d not aligned", f.DataOffset)
			}
			// Offsets: F32 48 bytes -> next at 64; F16 16 -> 96; TQ2_0 132 -> 256.
			wantOff := []uint64{0, 64, 96, 256}
			wantSize := []uint64{48, 16, 132, 108}
			if len(f.Tensors) != len(testTensors) {
				t.Fatalf("%d tensors", len(f.Tensors))
			}
			for i, ti := range f.Tensors {
				tt := testTensors[i]
				if ti.Name != tt.name || ti.Type != tt.typ || !reflect.DeepEqual(ti.Dims, tt.dims) {
					t.Errorf("tensor %d = %+v, want %+v", i, ti, tt)
				}
				if ti.Offset != wantOff[i] || ti.Size() != wantSize[i] {
					t.Errorf("tensor %q offset %d size %d, want %d %d", ti.Name, ti.Offset, ti.Size(), wantOff[i], wantSize[i])
				}
				got, err := io.ReadAll(f.TensorReader(bytes.NewReader(b), ti))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, tensorBytes(i, ti.Size())) {
					t.Errorf("tensor %q data differs", ti.Name)
				}
			}
			// The writer pads after the last tensor too, like llama.cpp.
			if want := f.DataOffset + 256 + 128; int64(len(b)) != want {
				t.Errorf("file size %d, want %d", len(b), want)
			}
			// Padding between tensors is zero.
			if pad := b[f.DataOffset+48 : f.DataOffset+64]; !bytes.Equal(pad, make([]byte, 16)) {
				t.Errorf("padding not zero: %x", pad)
			}
		})
	}
}

func TestAccessors(t *testing.T) {
	f, err := decodeBytes(buildFile(t, nil, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Architecture(); got != "llama" {
		t.Errorf("Architecture = %q", got)
	}
	if s, ok := f.String("test.string"); !ok || s != "héllo, wörld" {
		t.Errorf("String = %q %v", s, ok)
	}
	if _, ok := f.String("test.u32"); ok {
		t.Error("String accepted a uint32")
	}
	for key, want := range map[string]uint64{
		"test.u8": 200, "test.u16": 60000, "test.u32": 4000000000, "test.u64": 1 << 63, "test.i64": 0,
	} {
		got, ok := f.Uint(key)
		if key == "test.i64" {
			if ok {
				t.Errorf("Uint(%s) accepted a negative value", key)
			}
			continue
		}
		if !ok || got != want {
			t.Errorf("Uint(%s) = %d %v, want %d", key, got, ok, want)
		}
	}
	if _, ok := f.Uint("test.i8"); ok {
		t.Error("Uint accepted a negative int8")
	}
	if v, ok := f.Float("test.f32"); !ok || v != 3.25 {
		t.Errorf("Float(f32) = %v %v", v, ok)
	}
	if v, ok := f.Float("test.i32"); !ok || v != -2e9 {
		t.Errorf("Float(i32) = %v %v", v, ok)
	}
	if _, ok := f.Float("test.string"); ok {
		t.Error("Float accepted a string")
	}
	if s, ok := f.Strings("test.arr.string"); !ok || len(s) != 4 || s[3] != "<|eot_id|>" {
		t.Errorf("Strings = %q %v", s, ok)
	}
	if _, ok := f.Value("missing"); ok {
		t.Error("Value found a missing key")
	}
	if got, want := f.ParameterCount(), uint64(12+8+512+512); got != want {
		t.Errorf("ParameterCount = %d, want %d", got, want)
	}
	if ti, ok := f.Tensor("blk.0.attn_q.weight"); !ok || ti.Type != TypeTQ2_0 || ti.NumElements() != 512 {
		t.Errorf("Tensor = %+v %v", ti, ok)
	}
	if _, ok := f.Tensor("nope"); ok {
		t.Error("Tensor found a missing tensor")
	}
	// Lookups must survive callers editing the slices.
	f.KV = append([]KV{{"x", uint8(1)}}, f.KV...)
	f.Tensors = f.Tensors[1:]
	if a := f.Architecture(); a != "llama" {
		t.Errorf("after edit Architecture = %q", a)
	}
	if _, ok := f.Tensor("token_embd.weight"); ok {
		t.Error("found removed tensor")
	}
	if ti, ok := f.Tensor("output_norm.weight"); !ok || ti.Type != TypeF16 {
		t.Errorf("after edit Tensor = %+v %v", ti, ok)
	}
}

func TestAlignmentKV(t *testing.T) {
	b := buildFile(t, []KV{{KeyAlignment, uint32(128)}}, 1<<20)
	f, err := decodeBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	if f.Alignment != 128 || f.DataOffset%128 != 0 {
		t.Fatalf("alignment %d data offset %d", f.Alignment, f.DataOffset)
	}
	for i, want := range []uint64{0, 128, 256, 512} {
		if got := f.Tensors[i].Offset; got != want {
			t.Errorf("tensor %d offset %d, want %d", i, got, want)
		}
	}
}

func TestMetadataOnly(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.AddKV("general.name", "x"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil { // Close writes the header itself
		t.Fatal(err)
	}
	f, err := decodeBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != 0 || len(f.KV) != 1 {
		t.Fatalf("%+v", f)
	}
	// Without tensors the padding after the header may be missing.
	trimmed := bytes.TrimRight(buf.Bytes(), "\x00") // the header ends with "x"
	if len(trimmed) == buf.Len() {
		t.Fatal("expected padding after the header")
	}
	if _, err := decodeBytes(trimmed); err != nil {
		t.Fatalf("unpadded metadata-only file: %v", err)
	}
}

func TestVersion2(t *testing.T) {
	b := buildFile(t, nil, 1<<20)
	b[4] = 2
	f, err := decodeBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 2 {
		t.Fatalf("version %d", f.Version)
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.gguf")
	b := buildFile(t, nil, 1<<20)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Size != int64(len(b)) || len(f.Tensors) != 4 {
		t.Fatalf("%+v", f)
	}

	bad := filepath.Join(dir, "bad.gguf")
	if err := os.WriteFile(bad, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Open(bad)
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), bad) {
		t.Errorf("Open(truncated) = %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing.gguf")); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing.gguf") {
		t.Errorf("Open(missing) = %v", err)
	}
	if _, err := Open(dir); err == nil {
		t.Error("Open(directory) succeeded")
	}
}

// TestTruncatedEverywhere cuts a valid file at every length: every cut
// before the end of the last tensor's data must fail cleanly.
func TestTruncatedEverywhere(t *testing.T) {
	b := buildFile(t, nil, 1<<20)
	f, err := decodeBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	last := f.Tensors[len(f.Tensors)-1]
	dataEnd := f.DataOffset + int64(last.Offset+last.Size())
	for n := range len(b) + 1 {
		_, err := decodeBytes(b[:n])
		switch {
		case int64(n) >= dataEnd:
			if err != nil {
				t.Errorf("length %d (data ends at %d): %v", n, dataEnd, err)
			}
		case n < 4:
			if !errors.Is(err, ErrNotGGUF) {
				t.Errorf("length %d: %v, want ErrNotGGUF", n, err)
			}
		case !errors.Is(err, ErrTruncated):
			t.Errorf("length %d: %v, want ErrTruncated", n, err)
		}
	}
	// A reader shorter than the size it claims is treated as truncated too.
	if _, err := Decode(bytes.NewReader(b[:100]), int64(len(b))); !errors.Is(err, ErrTruncated) {
		t.Errorf("short reader: %v", err)
	}
}

type errReaderAt struct{ err error }

func (e errReaderAt) ReadAt([]byte, int64) (int, error) { return 0, e.err }

func TestIOError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Decode(errReaderAt{boom}, 1000)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
}

func TestValidationErrors(t *testing.T) {
	const tq2 = 66 // TQ2_0 block bytes
	long := strings.Repeat("x", 64)
	tests := []struct {
		name string
		file []byte
		kind error
		msg  string // substring of the error text
	}{
		{"empty", nil, ErrNotGGUF, "too short"},
		{"bad magic", []byte("GGML\x03\x00\x00\x00"), ErrNotGGUF, `bad magic "GGML"`},
		{"v1", new(raw).raw([]byte("GGUF")).u32(1).u32(0).u32(0).Bytes(), ErrInvalid, "v1"},
		{"v0", new(raw).raw([]byte("GGUF")).u32(0).u64(0).u64(0).Bytes(), ErrInvalid, "version 0"},
		{"v4", new(raw).raw([]byte("GGUF")).u32(4).u64(0).u64(0).Bytes(), ErrInvalid, "version 4"},
		{"big endian", new(raw).raw([]byte("GGUF")).u32(0x03000000).u64(0).u64(0).Bytes(), ErrInvalid, "big-endian"},
		{"huge tensor count", new(raw).raw([]byte("GGUF")).u32(3).u64(1 << 62).u64(0).Bytes(), ErrTruncated, "tensor count"},
		{"huge kv count", new(raw).raw([]byte("GGUF")).u32(3).u64(0).u64(math.MaxUint64).Bytes(), ErrTruncated, "metadata count"},
		{
			"huge key length",
			new(raw).raw([]byte("GGUF")).u32(3).u64(0).u64(1).u64(1 << 62).raw(make([]byte, 64)).Bytes(),
			ErrTruncated, "metadata key 0 at offset 24: length 4611686018427387904 exceeds",
		},
		{
			"huge string value length",
			rawFile([][]byte{new(raw).str("k").u32(uint32(ValueTypeString)).u64(math.MaxUint64).Bytes()}, nil, 64),
			ErrTruncated, `metadata "k"`,
		},
		{
			"huge array length",
			rawFile([][]byte{new(raw).str("k").u32(uint32(ValueTypeArray)).u32(uint32(ValueTypeUint32)).u64(1 << 61).Bytes()}, nil, 64),
			ErrTruncated, "array of 2305843009213693952 uint32",
		},
		{
			"huge string array length",
			rawFile([][]byte{new(raw).str("k").u32(uint32(ValueTypeArray)).u32(uint32(ValueTypeString)).u64(1 << 40).Bytes()}, nil, 64),
			ErrTruncated, "array of 1099511627776 string",
		},
		{
			"string in array too long",
			rawFile([][]byte{new(raw).str("k").u32(uint32(ValueTypeArray)).u32(uint32(ValueTypeString)).u64(1).u64(1 << 50).Bytes()}, nil, 64),
			ErrTruncated, "exceeds",
		},
		{
			"nested array",
			rawFile([][]byte{new(raw).str("k").u32(uint32(ValueTypeArray)).u32(uint32(ValueTypeArray)).u64(1).Bytes()}, nil, 64),
			ErrInvalid, "arrays of arrays",
		},
		{
			"invalid value type",
			rawFile([][]byte{new(raw).str("k").u32(13).u32(0).Bytes()}, nil, 64),
			ErrInvalid, "invalid value type 13",
		},
		{
			"invalid array element type",
			rawFile([][]byte{new(raw).str("k").u32(uint32(ValueTypeArray)).u32(99).u64(0).Bytes()}, nil, 64),
			ErrInvalid, "invalid array element type 99",
		},
		{"empty key", rawFile([][]byte{kvU32("", 1)}, nil, 0), ErrInvalid, "empty key"},
		{"key not utf8", rawFile([][]byte{kvU32("a\xffb", 1)}, nil, 0), ErrInvalid, "UTF-8"},
		{"key with NUL", rawFile([][]byte{kvU32("a\x00b", 1)}, nil, 0), ErrInvalid, "NUL"},
		{"duplicate key", rawFile([][]byte{kvU32("a", 1), kvStr("a", "x")}, nil, 0), ErrInvalid, `"a" at offset 41 duplicates key 0`},
		{
			"alignment wrong type",
			rawFile([][]byte{new(raw).str(KeyAlignment).u32(uint32(ValueTypeUint64)).u64(32).Bytes()}, nil, 0),
			ErrInvalid, "general.alignment must be a uint32, got uint64",
		},
		{"alignment not power of two", rawFile([][]byte{kvU32(KeyAlignment, 48)}, nil, 0), ErrInvalid, "48, not a power of two"},
		{"alignment zero", rawFile([][]byte{kvU32(KeyAlignment, 0)}, nil, 0), ErrInvalid, "0, not a power of two"},
		{"empty tensor name", rawFile(nil, [][]byte{tinfo("", TypeF32, 0, 8)}, 32), ErrInvalid, "empty name"},
		{"tensor name 64 bytes", rawFile(nil, [][]byte{tinfo(long, TypeF32, 0, 8)}, 32), ErrInvalid, "length 64 exceeds the limit of 63"},
		{"tensor name NUL", rawFile(nil, [][]byte{tinfo("a\x00", TypeF32, 0, 8)}, 32), ErrInvalid, "NUL"},
		{
			"duplicate tensor",
			rawFile(nil, [][]byte{tinfo("a", TypeF32, 0, 8), tinfo("a", TypeF32, 32, 8)}, 64),
			ErrInvalid, `tensor 1 "a" at offset 57: duplicate name`,
		},
		{"zero dims", rawFile(nil, [][]byte{tinfo("a", TypeF32, 0)}, 32), ErrInvalid, "n_dims is 0"},
		{"five dims", rawFile(nil, [][]byte{tinfo("a", TypeF32, 0, 1, 1, 1, 1, 1)}, 32), ErrInvalid, "n_dims is 5"},
		{"zero dim", rawFile(nil, [][]byte{tinfo("a", TypeF32, 0, 8, 0)}, 32), ErrInvalid, "dim 1 is 0"},
		{
			"element overflow",
			rawFile(nil, [][]byte{tinfo("a", TypeI8, 0, 1<<32, 1<<31)}, 32),
			ErrInvalid, "2^63-1 or more elements",
		},
		{
			"byte size overflow",
			rawFile(nil, [][]byte{tinfo("a", TypeF64, 0, 1<<31, 1<<30)}, 32),
			ErrInvalid, "2^63-1 bytes or more",
		},
		{
			"I2_S",
			rawFile(nil, [][]byte{tinfo("blk.0.attn_q.weight", 36, 0, 256)}, 64),
			ErrUnsupportedType, "36 is bitnet.cpp's I2_S (formerly ggml's IQ4_NL_4_4), which mainline ggml cannot run; convert the ternary weights to TQ1_0 or TQ2_0",
		},
		{"removed type", rawFile(nil, [][]byte{tinfo("a", 32, 0, 256)}, 64), ErrUnsupportedType, "Q4_0_4_8"},
		{"unknown type", rawFile(nil, [][]byte{tinfo("a", 40, 0, 256)}, 64), ErrUnsupportedType, "40"},
		{
			"ne0 not multiple of block",
			rawFile(nil, [][]byte{tinfo("blk.0.attn_q.weight", TypeTQ2_0, 0, 100)}, 2*tq2),
			ErrInvalid, `gguf: tensor "blk.0.attn_q.weight": type TQ2_0 needs ne0 multiple of 256, got 100`,
		},
		{"misaligned offset", rawFile(nil, [][]byte{tinfo("a", TypeF32, 4, 8)}, 64), ErrInvalid, "offset 4 is not a multiple of the alignment 32"},
		{
			"overlapping tensors",
			rawFile(nil, [][]byte{tinfo("a", TypeF32, 0, 16), tinfo("b", TypeF32, 32, 16)}, 128),
			ErrInvalid, `tensors "a" [0, 64) and "b" [32, 96) overlap`,
		},
		{
			"out of order",
			rawFile(nil, [][]byte{tinfo("a", TypeF32, 32, 8), tinfo("b", TypeF32, 0, 8)}, 64),
			ErrInvalid, `tensor "a": offset 32, expected 0`,
		},
		{
			"gap",
			rawFile(nil, [][]byte{tinfo("a", TypeF32, 0, 8), tinfo("b", TypeF32, 64, 8)}, 128),
			ErrInvalid, `tensor "b": offset 64, expected 32`,
		},
		{
			"data past EOF",
			rawFile(nil, [][]byte{tinfo("a", TypeF32, 0, 8), tinfo("b", TypeF32, 32, 8)}, 63),
			ErrTruncated, `tensor "b": data at file offset 96+32 (32 bytes) extends past the end of the file (159 bytes)`,
		},
		{
			"offset overflow",
			rawFile(nil, [][]byte{tinfo("a", TypeF32, math.MaxUint64-31, 8)}, 64),
			ErrTruncated, "extends past the end",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeBytes(tt.file)
			if err == nil {
				t.Fatal("Decode succeeded")
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("error %q does not wrap %v", err, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
		})
	}
}

// TestHugeClaimsAllocateLittle checks that lengths and counts are validated
// before they drive an allocation.
func TestHugeClaimsAllocateLittle(t *testing.T) {
	pad := make([]byte, 1<<20) // a 1 MiB file makes moderately large claims "fit"
	cases := map[string][]byte{
		"tensor count": new(raw).raw([]byte("GGUF")).u32(3).u64(1 << 62).u64(0).raw(pad).Bytes(),
		"kv count":     new(raw).raw([]byte("GGUF")).u32(3).u64(0).u64(1 << 40).raw(pad).Bytes(),
		"string":       new(raw).raw([]byte("GGUF")).u32(3).u64(0).u64(1).str("k").u32(uint32(ValueTypeString)).u64(1 << 40).raw(pad).Bytes(),
		"array":        new(raw).raw([]byte("GGUF")).u32(3).u64(0).u64(1).str("k").u32(uint32(ValueTypeArray)).u32(uint32(ValueTypeFloat64)).u64(1 << 40).raw(pad).Bytes(),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := decodeBytes(b)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("Decode succeeded")
			}
			// The bufio buffer (64 KiB) plus bookkeeping; nothing sized by the claim.
			if got := after.TotalAlloc - before.TotalAlloc; got > 256<<10 {
				t.Errorf("allocated %d bytes for a rejected claim", got)
			}
		})
	}
}

// TestLargeVocab decodes a llama-3-sized tokenizer (128k tokens with scores,
// types and merges) and checks it is fast.
func TestLargeVocab(t *testing.T) {
	const n = 128256
	tokens := make([]string, n)
	scores := make([]float32, n)
	types := make([]int32, n)
	merges := make([]string, 280000)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("tok_%06d", i)
		scores[i] = float32(i)
		types[i] = int32(i % 6)
	}
	for i := range merges {
		merges[i] = fmt.Sprintf("ab%d cd%d", i, i)
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, kv := range []KV{
		{"tokenizer.ggml.tokens", tokens}, {"tokenizer.ggml.scores", scores},
		{"tokenizer.ggml.token_type", types}, {"tokenizer.ggml.merges", merges},
	} {
		if err := w.AddKV(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Speed is BenchmarkDecodeVocab's business; this checks a large vocabulary decodes intact.
	f, err := decodeBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Strings("tokenizer.ggml.tokens"); len(got) != n || got[n-1] != tokens[n-1] {
		t.Fatal("tokens differ")
	}
}

func BenchmarkDecodeVocab(b *testing.B) {
	tokens := make([]string, 128256)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("tok_%06d", i)
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.AddKV("tokenizer.ggml.tokens", tokens); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	for b.Loop() {
		if _, err := decodeBytes(buf.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}
