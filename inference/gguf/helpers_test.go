package gguf

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// raw assembles GGUF bytes field by field, so tests can produce files the
// Writer refuses to make.
type raw struct{ bytes.Buffer }

func (r *raw) u32(v uint32) *raw {
	r.Write(binary.LittleEndian.AppendUint32(nil, v))
	return r
}

func (r *raw) u64(v uint64) *raw {
	r.Write(binary.LittleEndian.AppendUint64(nil, v))
	return r
}

func (r *raw) str(s string) *raw {
	r.u64(uint64(len(s)))
	r.WriteString(s)
	return r
}

func (r *raw) raw(b []byte) *raw {
	r.Write(b)
	return r
}

// kvU32 encodes one KV of type uint32.
func kvU32(key string, v uint32) []byte {
	var r raw
	r.str(key).u32(uint32(ValueTypeUint32)).u32(v)
	return r.Bytes()
}

// kvStr encodes one KV of type string.
func kvStr(key, v string) []byte {
	var r raw
	r.str(key).u32(uint32(ValueTypeString)).str(v)
	return r.Bytes()
}

// tinfo encodes one tensor info.
func tinfo(name string, typ Type, off uint64, dims ...uint64) []byte {
	var r raw
	r.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		r.u64(d)
	}
	r.u32(uint32(typ)).u64(off)
	return r.Bytes()
}

// rawFile assembles a v3 file from encoded KVs and tensor infos, pads the
// header to 32 bytes and appends dataLen zero bytes of tensor data.
func rawFile(kvs, tensors [][]byte, dataLen int) []byte {
	var r raw
	r.WriteString("GGUF")
	r.u32(3).u64(uint64(len(tensors))).u64(uint64(len(kvs)))
	for _, kv := range kvs {
		r.raw(kv)
	}
	for _, t := range tensors {
		r.raw(t)
	}
	for r.Len()%32 != 0 {
		r.WriteByte(0)
	}
	r.Write(make([]byte, dataLen))
	return r.Bytes()
}

// allKinds lists one value of every KV value type, scalar and array.
func allKinds() []KV {
	return []KV{
		{"general.architecture", "llama"},
		{"test.u8", uint8(200)},
		{"test.i8", int8(-100)},
		{"test.u16", uint16(60000)},
		{"test.i16", int16(-30000)},
		{"test.u32", uint32(4000000000)},
		{"test.i32", int32(-2000000000)},
		{"test.f32", float32(3.25)},
		{"test.bool", true},
		{"test.bool_false", false},
		{"test.string", "héllo, wörld"},
		{"test.empty_string", ""},
		{"test.u64", uint64(1) << 63},
		{"test.i64", int64(-1) << 62},
		{"test.f64", 2.718281828459045},
		{"test.arr.u8", []uint8{0, 1, 255}},
		{"test.arr.i8", []int8{-128, 0, 127}},
		{"test.arr.u16", []uint16{1, 65535}},
		{"test.arr.i16", []int16{-32768, 32767}},
		{"test.arr.u32", []uint32{7, 8, 9}},
		{"test.arr.i32", []int32{-1, 0, 1}},
		{"test.arr.f32", []float32{0.5, -1.5, 1e-8}},
		{"test.arr.bool", []bool{true, false, true}},
		{"test.arr.string", []string{"a", "", "ünïcode", "<|eot_id|>"}},
		{"test.arr.u64", []uint64{1 << 40, 0}},
		{"test.arr.i64", []int64{-1 << 40, 5}},
		{"test.arr.f64", []float64{1.0 / 3, -0.0}},
		{"test.arr.empty", []int32{}},
	}
}

type testTensor struct {
	name string
	typ  Type
	dims []uint64
}

var testTensors = []testTensor{
	{"token_embd.weight", TypeF32, []uint64{4, 3}},       // 48 bytes
	{"output_norm.weight", TypeF16, []uint64{8}},         // 16 bytes
	{"blk.0.attn_q.weight", TypeTQ2_0, []uint64{256, 2}}, // 132 bytes
	{"blk.0.ffn_up.weight", TypeTQ1_0, []uint64{512}},    // 108 bytes
}

// tensorBytes returns deterministic, distinct contents for tensor i.
func tensorBytes(i int, size uint64) []byte {
	b := make([]byte, size)
	for j := range b {
		b[j] = byte(i*31 + j*7 + 1)
	}
	return b
}

// buildFile writes a file with allKinds metadata (plus extra KVs) and
// testTensors, streaming each tensor's data in chunks of chunk bytes.
func buildFile(t testing.TB, extra []KV, chunk int) []byte {
	t.Helper()
	var out bytes.Buffer
	w := NewWriter(&out)
	for _, kv := range append(allKinds(), extra...) {
		if err := w.AddKV(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range testTensors {
		if err := w.AddTensor(tt.name, tt.typ, tt.dims...); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	for i, tt := range testTensors {
		ti := TensorInfo{Dims: tt.dims, Type: tt.typ}
		data := tensorBytes(i, ti.Size())
		for len(data) > 0 {
			n := min(chunk, len(data))
			if err := w.WriteTensorData(tt.name, data[:n]); err != nil {
				t.Fatal(err)
			}
			data = data[n:]
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
