package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// Writer streams a GGUF v3 file: metadata and tensor infos are collected
// first, then WriteHeader emits them and tensor data follows tensor by
// tensor, in AddTensor order, in as many chunks as the caller likes. Only the
// header is ever held in memory.
//
// The layout is the one llama.cpp writes and requires: tensor data in header
// order, each tensor starting at an offset aligned to the file's alignment
// and padded with zeros up to the next one.
type Writer struct {
	bw        *bufio.Writer
	alignment uint64

	kvs  []KV
	keys map[string]struct{}

	tensors []TensorInfo
	sizes   []uint64
	names   map[string]int

	header  bool
	cur     int    // index of the tensor whose data is being written
	written uint64 // bytes of tensors[cur] written so far
	closed  bool
	err     error // first write error; the output is unusable after it

	allowI2S bool
}

// AllowI2S lets AddTensor declare bitnet.cpp's I2_S tensors (TypeI2_S), which ggml
// cannot load: only for producing files in Microsoft's format (import tests and
// benchmarks).
func (w *Writer) AllowI2S() { w.allowI2S = true }

// NewWriter returns a Writer for a version 3 file with DefaultAlignment,
// unless a general.alignment KV is added. Output is buffered; Close flushes
// it but does not close w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{
		bw:        bufio.NewWriterSize(w, 256<<10),
		alignment: DefaultAlignment,
		keys:      make(map[string]struct{}),
		names:     make(map[string]int),
	}
}

// AddKV adds a metadata entry. value must be one of the types listed for
// KV.Value; slices are copied. Setting general.alignment (a uint32 power of
// two) changes the alignment of the tensor data.
func (w *Writer) AddKV(key string, value any) error {
	if w.header {
		return fmt.Errorf("gguf: AddKV %q after WriteHeader", key)
	}
	if err := checkKey(key); err != nil {
		return fmt.Errorf("gguf: AddKV: %w", err)
	}
	if _, dup := w.keys[key]; dup {
		return fmt.Errorf("gguf: AddKV: duplicate key %q", key)
	}
	if _, _, ok := valueTypeOf(value); !ok {
		return fmt.Errorf("gguf: AddKV %q: unsupported value type %T", key, value)
	}
	if key == KeyAlignment {
		a, ok := value.(uint32)
		if !ok {
			return fmt.Errorf("gguf: AddKV: %s must be a uint32, got %T", key, value)
		}
		if a == 0 || a&(a-1) != 0 {
			return fmt.Errorf("gguf: AddKV: %s is %d, not a power of two", key, a)
		}
		w.alignment = uint64(a)
	}
	w.keys[key] = struct{}{}
	w.kvs = append(w.kvs, KV{Key: key, Value: cloneValue(value)})
	return nil
}

// AddTensor declares a tensor; dims are in ggml order (ne0 first). The same
// rules as in Decode apply: unique name of 1..MaxNameLen bytes, 1..MaxDims
// non-zero dims, a type ggml supports and ne0 a multiple of its block size.
func (w *Writer) AddTensor(name string, typ Type, dims ...uint64) error {
	if w.header {
		return fmt.Errorf("gguf: AddTensor %q after WriteHeader", name)
	}
	switch {
	case name == "":
		return errors.New("gguf: AddTensor: empty name")
	case len(name) > MaxNameLen:
		return fmt.Errorf("gguf: AddTensor %q: name is %d bytes, ggml allows %d", name, len(name), MaxNameLen)
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("gguf: AddTensor %q: name contains a NUL byte", name)
	}
	if _, dup := w.names[name]; dup {
		return fmt.Errorf("gguf: AddTensor: duplicate tensor %q", name)
	}
	if len(dims) < 1 || len(dims) > MaxDims {
		return fmt.Errorf("gguf: AddTensor %q: %d dims, want 1..%d", name, len(dims), MaxDims)
	}
	for i, d := range dims {
		if d == 0 {
			return fmt.Errorf("gguf: AddTensor %q: dim %d is 0", name, i)
		}
	}
	t := TensorInfo{Name: name, Dims: slices.Clone(dims), Type: typ}
	check := checkTensor
	if typ == TypeI2_S && w.allowI2S {
		check = checkI2S
	}
	if err := check(t); err != nil {
		return err
	}
	w.names[name] = len(w.tensors)
	w.tensors = append(w.tensors, t)
	w.sizes = append(w.sizes, t.Size())
	return nil
}

// WriteHeader writes the magic, version, counts, metadata and tensor infos,
// then pads to the alignment so that tensor data can follow. No AddKV or
// AddTensor is allowed afterwards.
func (w *Writer) WriteHeader() error {
	if w.header {
		return errors.New("gguf: WriteHeader called twice")
	}
	if w.err != nil {
		return w.err
	}
	w.header = true

	var off uint64
	for i := range w.tensors {
		w.tensors[i].Offset = off
		next, ok := alignUp(off+w.sizes[i], w.alignment)
		if !ok || off+w.sizes[i] < off || next > math.MaxInt64 {
			return fmt.Errorf("gguf: tensor %q: data section exceeds 2^63 bytes", w.tensors[i].Name)
		}
		off = next
	}

	le := binary.LittleEndian
	b := []byte(magic)
	b = le.AppendUint32(b, 3)
	b = le.AppendUint64(b, uint64(len(w.tensors)))
	b = le.AppendUint64(b, uint64(len(w.kvs)))
	for _, kv := range w.kvs {
		b = appendString(b, kv.Key)
		b = appendValue(b, kv.Value)
	}
	for _, t := range w.tensors {
		b = appendString(b, t.Name)
		b = le.AppendUint32(b, uint32(len(t.Dims)))
		for _, d := range t.Dims {
			b = le.AppendUint64(b, d)
		}
		b = le.AppendUint32(b, uint32(t.Type))
		b = le.AppendUint64(b, t.Offset)
	}
	if err := w.write(b); err != nil {
		return err
	}
	return w.pad(uint64(len(b)))
}

// WriteTensorData appends data to the named tensor. A tensor's data may be
// split over any number of calls, but tensors must be completed in AddTensor
// order. Once a tensor has all its bytes the padding to the next aligned
// offset is written. Writing more bytes than the tensor holds is an error
// and writes nothing.
func (w *Writer) WriteTensorData(name string, data []byte) error {
	switch {
	case w.err != nil:
		return w.err
	case w.closed:
		return errors.New("gguf: WriteTensorData after Close")
	case !w.header:
		return fmt.Errorf("gguf: WriteTensorData %q before WriteHeader", name)
	}
	i, ok := w.names[name]
	switch {
	case !ok:
		return fmt.Errorf("gguf: WriteTensorData: unknown tensor %q", name)
	case i < w.cur:
		return fmt.Errorf("gguf: WriteTensorData: tensor %q is already complete", name)
	case i > w.cur:
		return fmt.Errorf("gguf: WriteTensorData: tensor %q out of order: %q comes first and has %d of %d bytes",
			name, w.tensors[w.cur].Name, w.written, w.sizes[w.cur])
	}
	size := w.sizes[i]
	if uint64(len(data)) > size-w.written {
		return fmt.Errorf("gguf: WriteTensorData %q: %d bytes would exceed its size: %d of %d bytes already written",
			name, len(data), w.written, size)
	}
	if err := w.write(data); err != nil {
		return err
	}
	w.written += uint64(len(data))
	if w.written == size {
		if err := w.pad(size); err != nil {
			return err
		}
		w.cur++
		w.written = 0
	}
	return nil
}

// Close writes the header if WriteHeader was not called (useful for
// metadata-only files), flushes buffered output and reports an error if any
// tensor did not receive all its data. It does not close the underlying
// io.Writer.
func (w *Writer) Close() error {
	if w.closed {
		return errors.New("gguf: Writer closed twice")
	}
	if !w.header {
		if err := w.WriteHeader(); err != nil {
			w.closed = true
			return err
		}
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.err = fmt.Errorf("gguf: write: %w", err)
		return w.err
	}
	if w.cur < len(w.tensors) {
		return fmt.Errorf("gguf: tensor %q incomplete: %d of %d bytes written (%d of %d tensors complete)",
			w.tensors[w.cur].Name, w.written, w.sizes[w.cur], w.cur, len(w.tensors))
	}
	return nil
}

func (w *Writer) write(b []byte) error {
	if _, err := w.bw.Write(b); err != nil {
		w.err = fmt.Errorf("gguf: write: %w", err)
		return w.err
	}
	return nil
}

var zeros [4096]byte

// pad writes the zeros that take a section of n bytes to the alignment.
func (w *Writer) pad(n uint64) error {
	next, _ := alignUp(n, w.alignment)
	for left := next - n; left > 0; {
		k := min(left, uint64(len(zeros)))
		if err := w.write(zeros[:k]); err != nil {
			return err
		}
		left -= k
	}
	return nil
}

// valueTypeOf maps a Go value to its GGUF type, and for slices to ARRAY and
// the element type. ok is false for unsupported types.
func valueTypeOf(v any) (vt, elem ValueType, ok bool) {
	switch v.(type) {
	case uint8:
		return ValueTypeUint8, 0, true
	case int8:
		return ValueTypeInt8, 0, true
	case uint16:
		return ValueTypeUint16, 0, true
	case int16:
		return ValueTypeInt16, 0, true
	case uint32:
		return ValueTypeUint32, 0, true
	case int32:
		return ValueTypeInt32, 0, true
	case float32:
		return ValueTypeFloat32, 0, true
	case bool:
		return ValueTypeBool, 0, true
	case string:
		return ValueTypeString, 0, true
	case uint64:
		return ValueTypeUint64, 0, true
	case int64:
		return ValueTypeInt64, 0, true
	case float64:
		return ValueTypeFloat64, 0, true
	case []uint8:
		return ValueTypeArray, ValueTypeUint8, true
	case []int8:
		return ValueTypeArray, ValueTypeInt8, true
	case []uint16:
		return ValueTypeArray, ValueTypeUint16, true
	case []int16:
		return ValueTypeArray, ValueTypeInt16, true
	case []uint32:
		return ValueTypeArray, ValueTypeUint32, true
	case []int32:
		return ValueTypeArray, ValueTypeInt32, true
	case []float32:
		return ValueTypeArray, ValueTypeFloat32, true
	case []bool:
		return ValueTypeArray, ValueTypeBool, true
	case []string:
		return ValueTypeArray, ValueTypeString, true
	case []uint64:
		return ValueTypeArray, ValueTypeUint64, true
	case []int64:
		return ValueTypeArray, ValueTypeInt64, true
	case []float64:
		return ValueTypeArray, ValueTypeFloat64, true
	}
	return 0, 0, false
}

func cloneValue(v any) any {
	switch v := v.(type) {
	case []uint8:
		return slices.Clone(v)
	case []int8:
		return slices.Clone(v)
	case []uint16:
		return slices.Clone(v)
	case []int16:
		return slices.Clone(v)
	case []uint32:
		return slices.Clone(v)
	case []int32:
		return slices.Clone(v)
	case []float32:
		return slices.Clone(v)
	case []bool:
		return slices.Clone(v)
	case []string:
		return slices.Clone(v)
	case []uint64:
		return slices.Clone(v)
	case []int64:
		return slices.Clone(v)
	case []float64:
		return slices.Clone(v)
	}
	return v
}

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendSlice writes an array header and the elements of s.
func appendSlice[T any](b []byte, elem ValueType, s []T, enc func([]byte, T) []byte) []byte {
	le := binary.LittleEndian
	b = le.AppendUint32(b, uint32(ValueTypeArray))
	b = le.AppendUint32(b, uint32(elem))
	b = le.AppendUint64(b, uint64(len(s)))
	for _, v := range s {
		b = enc(b, v)
	}
	return b
}

// appendValue encodes the type tag and value v, which valueTypeOf accepts.
func appendValue(b []byte, v any) []byte {
	le := binary.LittleEndian
	vt, _, _ := valueTypeOf(v)
	if vt != ValueTypeArray {
		b = le.AppendUint32(b, uint32(vt))
	}
	switch v := v.(type) {
	case uint8:
		return append(b, v)
	case int8:
		return append(b, byte(v))
	case uint16:
		return le.AppendUint16(b, v)
	case int16:
		return le.AppendUint16(b, uint16(v))
	case uint32:
		return le.AppendUint32(b, v)
	case int32:
		return le.AppendUint32(b, uint32(v))
	case float32:
		return le.AppendUint32(b, math.Float32bits(v))
	case bool:
		return appendBool(b, v)
	case string:
		return appendString(b, v)
	case uint64:
		return le.AppendUint64(b, v)
	case int64:
		return le.AppendUint64(b, uint64(v))
	case float64:
		return le.AppendUint64(b, math.Float64bits(v))
	case []uint8:
		return appendSlice(b, ValueTypeUint8, v, func(b []byte, x uint8) []byte { return append(b, x) })
	case []int8:
		return appendSlice(b, ValueTypeInt8, v, func(b []byte, x int8) []byte { return append(b, byte(x)) })
	case []uint16:
		return appendSlice(b, ValueTypeUint16, v, le.AppendUint16)
	case []int16:
		return appendSlice(b, ValueTypeInt16, v, func(b []byte, x int16) []byte { return le.AppendUint16(b, uint16(x)) })
	case []uint32:
		return appendSlice(b, ValueTypeUint32, v, le.AppendUint32)
	case []int32:
		return appendSlice(b, ValueTypeInt32, v, func(b []byte, x int32) []byte { return le.AppendUint32(b, uint32(x)) })
	case []float32:
		return appendSlice(b, ValueTypeFloat32, v, func(b []byte, x float32) []byte { return le.AppendUint32(b, math.Float32bits(x)) })
	case []bool:
		return appendSlice(b, ValueTypeBool, v, appendBool)
	case []string:
		return appendSlice(b, ValueTypeString, v, appendString)
	case []uint64:
		return appendSlice(b, ValueTypeUint64, v, le.AppendUint64)
	case []int64:
		return appendSlice(b, ValueTypeInt64, v, func(b []byte, x int64) []byte { return le.AppendUint64(b, uint64(x)) })
	case []float64:
		return appendSlice(b, ValueTypeFloat64, v, func(b []byte, x float64) []byte { return le.AppendUint64(b, math.Float64bits(x)) })
	}
	panic(fmt.Sprintf("gguf: appendValue: unsupported type %T", v))
}
