package gguf

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// TestWriterExactBytes pins the encoding against a file assembled by hand
// from the GGUF spec (the layout gguf_write_out produces).
func TestWriterExactBytes(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	must(t, w.AddKV("a", uint32(7)))
	must(t, w.AddKV("b", []string{"x", "yz"}))
	must(t, w.AddTensor("t", TypeF16, 3))
	must(t, w.WriteHeader())
	must(t, w.WriteTensorData("t", []byte{1, 2, 3, 4, 5, 6}))
	must(t, w.Close())

	want := strings.Join([]string{
		"47475546",                                       // "GGUF"
		"03000000",                                       // version 3
		"0100000000000000",                               // 1 tensor
		"0200000000000000",                               // 2 KVs
		"0100000000000000", "61", "04000000", "07000000", // "a": uint32 7
		"0100000000000000", "62", "09000000", "08000000", "0200000000000000", // "b": array of 2 strings
		"0100000000000000", "78", // "x"
		"0200000000000000", "797a", // "yz"
		"0100000000000000", "74", // tensor "t"
		"01000000", "0300000000000000", // n_dims 1, ne0 3
		"01000000",         // F16
		"0000000000000000", // offset 0
	}, "")
	// The header above is 24 + 17 ("a") + 44 ("b") + 33 (tensor) = 118
	// bytes: pad to 128.
	want += strings.Repeat("00", 128-118)
	want += "010203040506" + strings.Repeat("00", 26) // data padded to 32
	if got := hex.EncodeToString(buf.Bytes()); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestWriterCopiesSlices(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	toks := []string{"a", "b"}
	must(t, w.AddKV("toks", toks))
	toks[0] = "changed"
	must(t, w.Close())
	f, err := decodeBytes(buf.Bytes())
	must(t, err)
	if s, _ := f.Strings("toks"); s[0] != "a" {
		t.Fatalf("writer kept a reference to the caller's slice: %q", s)
	}
}

func TestWriterErrors(t *testing.T) {
	newW := func() *Writer { return NewWriter(new(bytes.Buffer)) }

	t.Run("AddKV", func(t *testing.T) {
		w := newW()
		must(t, w.AddKV("k", "v"))
		for _, tc := range []struct {
			key   string
			value any
			msg   string
		}{
			{"k", "again", "duplicate key"},
			{"", uint8(1), "empty key"},
			{"bad\xff", uint8(1), "UTF-8"},
			{"x", 1, "unsupported value type int"},
			{"x", []any{"a"}, "unsupported value type []interface {}"},
			{"x", [][]string{{"a"}}, "unsupported value type [][]string"},
			{"x", nil, "unsupported value type <nil>"},
			{KeyAlignment, uint64(32), "must be a uint32"},
			{KeyAlignment, uint32(24), "not a power of two"},
			{KeyAlignment, uint32(0), "not a power of two"},
		} {
			if err := w.AddKV(tc.key, tc.value); err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("AddKV(%q, %#v) = %v, want %q", tc.key, tc.value, err, tc.msg)
			}
		}
	})

	t.Run("AddTensor", func(t *testing.T) {
		w := newW()
		must(t, w.AddTensor("a", TypeF32, 4))
		for _, tc := range []struct {
			name string
			typ  Type
			dims []uint64
			msg  string
		}{
			{"a", TypeF32, []uint64{4}, "duplicate tensor"},
			{"", TypeF32, []uint64{4}, "empty name"},
			{strings.Repeat("n", 64), TypeF32, []uint64{4}, "ggml allows 63"},
			{"b\x00", TypeF32, []uint64{4}, "NUL"},
			{"b", TypeF32, nil, "0 dims"},
			{"b", TypeF32, []uint64{1, 1, 1, 1, 1}, "5 dims"},
			{"b", TypeF32, []uint64{4, 0}, "dim 1 is 0"},
			{"b", 36, []uint64{256}, "I2_S"},
			{"b", TypeTQ1_0, []uint64{100}, "needs ne0 multiple of 256, got 100"},
			{"b", TypeF32, []uint64{1 << 62, 4}, "2^63-1 or more elements"},
		} {
			err := w.AddTensor(tc.name, tc.typ, tc.dims...)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("AddTensor(%q, %v, %v) = %v, want %q", tc.name, tc.typ, tc.dims, err, tc.msg)
			}
		}
		if err := w.AddTensor("c", 36, 256); !errors.Is(err, ErrUnsupportedType) {
			t.Errorf("type 36: %v does not wrap ErrUnsupportedType", err)
		}
	})

	t.Run("sequence", func(t *testing.T) {
		w := newW()
		must(t, w.AddTensor("a", TypeF32, 4)) // 16 bytes
		must(t, w.AddTensor("b", TypeI8, 3))  // 3 bytes
		if err := w.WriteTensorData("a", make([]byte, 4)); err == nil || !strings.Contains(err.Error(), "before WriteHeader") {
			t.Errorf("data before header: %v", err)
		}
		must(t, w.WriteHeader())
		if err := w.WriteHeader(); err == nil {
			t.Error("second WriteHeader succeeded")
		}
		if err := w.AddKV("late", uint8(1)); err == nil {
			t.Error("AddKV after header succeeded")
		}
		if err := w.AddTensor("late", TypeF32, 1); err == nil {
			t.Error("AddTensor after header succeeded")
		}
		if err := w.WriteTensorData("zzz", nil); err == nil || !strings.Contains(err.Error(), "unknown tensor") {
			t.Errorf("unknown tensor: %v", err)
		}
		must(t, w.WriteTensorData("a", make([]byte, 10)))
		if err := w.WriteTensorData("b", []byte{1}); err == nil || !strings.Contains(err.Error(), `"a" comes first and has 10 of 16 bytes`) {
			t.Errorf("out of order: %v", err)
		}
		if err := w.WriteTensorData("a", make([]byte, 7)); err == nil || !strings.Contains(err.Error(), "exceed") {
			t.Errorf("too many bytes: %v", err)
		}
		must(t, w.WriteTensorData("a", make([]byte, 6)))
		if err := w.WriteTensorData("a", []byte{1}); err == nil || !strings.Contains(err.Error(), "already complete") {
			t.Errorf("write to complete tensor: %v", err)
		}
		must(t, w.WriteTensorData("b", []byte{1}))
		if err := w.Close(); err == nil || !strings.Contains(err.Error(), `tensor "b" incomplete: 1 of 3 bytes`) {
			t.Errorf("Close with incomplete tensor: %v", err)
		}
		if err := w.Close(); err == nil {
			t.Error("second Close succeeded")
		}
		if err := w.WriteTensorData("b", []byte{1, 2}); err == nil {
			t.Error("write after Close succeeded")
		}
	})

	t.Run("close without header with tensors", func(t *testing.T) {
		w := newW()
		must(t, w.AddTensor("a", TypeF32, 4))
		if err := w.Close(); err == nil || !strings.Contains(err.Error(), "incomplete") {
			t.Errorf("Close = %v", err)
		}
	})
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n -= len(p); f.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestWriterSticksToWriteErrors(t *testing.T) {
	w := NewWriter(&failWriter{n: 10})
	must(t, w.AddTensor("a", TypeI8, 1<<20)) // bigger than the buffer, so writes reach the failing writer
	must(t, w.WriteHeader())
	err := w.WriteTensorData("a", make([]byte, 1<<19))
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("WriteTensorData = %v", err)
	}
	if err2 := w.WriteTensorData("a", make([]byte, 1)); err2 != err {
		t.Errorf("later write = %v, want the sticky %v", err2, err)
	}
	if err2 := w.Close(); err2 != err {
		t.Errorf("Close = %v, want the sticky %v", err2, err)
	}
}
