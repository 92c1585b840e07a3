package gguf

import (
	"errors"
	"io"
	"sort"
)

// Sentinel errors. Decode errors wrap one of these (test with errors.Is);
// their own text names the field, tensor and offset involved.
var (
	// ErrNotGGUF means the file does not start with the "GGUF" magic.
	ErrNotGGUF = errors.New("not a GGUF file")
	// ErrTruncated means the file ends before something its header declares:
	// a field, a string or array, or tensor data.
	ErrTruncated = errors.New("truncated GGUF file")
	// ErrUnsupportedType means a tensor uses a type id that mainline ggml
	// cannot load (removed, foreign such as bitnet.cpp's I2_S, or unknown).
	ErrUnsupportedType = errors.New("unsupported tensor type")
	// ErrInvalid means the file violates the GGUF format or a limit that
	// llama.cpp enforces.
	ErrInvalid = errors.New("invalid GGUF file")
)

// formatError keeps the message readable ("gguf: tensor "x": ...") while still
// letting callers match the sentinel kind with errors.Is.
type formatError struct {
	msg  string
	kind error
}

func (e *formatError) Error() string { return e.msg }
func (e *formatError) Unwrap() error { return e.kind }

// DefaultAlignment is the data alignment used when general.alignment is
// absent (GGUF_DEFAULT_ALIGNMENT).
const DefaultAlignment = 32

// KeyAlignment is the metadata key that overrides DefaultAlignment.
const KeyAlignment = "general.alignment"

// MaxNameLen is the longest tensor name ggml can hold: GGML_MAX_NAME is 64
// including the terminating NUL.
const MaxNameLen = 63

// MaxDims is GGML_MAX_DIMS.
const MaxDims = 4

// KV is one metadata entry. Value holds one of uint8, int8, uint16, int16,
// uint32, int32, float32, bool, string, uint64, int64, float64, or for arrays
// a slice of one of those ([]string, []int32, []float32, ...). Arrays of
// arrays are not supported.
type KV struct {
	Key   string
	Value any
}

// TensorInfo describes one tensor. Dims are in ggml order: Dims[0] (ne0) is
// the contiguous, innermost dimension.
type TensorInfo struct {
	Name   string
	Dims   []uint64
	Type   Type
	Offset uint64 // relative to File.DataOffset
}

// NumElements returns the product of the dimensions.
func (t TensorInfo) NumElements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// Size returns the number of bytes of tensor data, or 0 if the type is not
// Known or ne0 is not a whole number of blocks. Tensors returned by Decode
// always have a valid, non-overflowing size.
func (t TensorInfo) Size() uint64 {
	if len(t.Dims) == 0 {
		return 0
	}
	if t.Type == TypeI2_S {
		return I2SSize(t.NumElements())
	}
	row, err := RowSize(t.Type, t.Dims[0])
	if err != nil {
		return 0
	}
	for _, d := range t.Dims[1:] {
		row *= d
	}
	return row
}

// File is the decoded header of a GGUF file. Tensor data is not loaded; use
// TensorReader to read it.
type File struct {
	Version   uint32
	KV        []KV // in file order
	Tensors   []TensorInfo
	Alignment uint64 // general.alignment, or DefaultAlignment

	DataOffset int64 // absolute file offset of the tensor data section
	Size       int64 // size of the file

	// Indexes built by Decode. They are only hints: a lookup double-checks
	// the slot and falls back to a scan, so callers may edit KV and Tensors.
	kvIndex     map[string]int
	tensorIndex map[string]int
}

// Value returns the value of the metadata key.
func (f *File) Value(key string) (any, bool) {
	if i, ok := f.kvIndex[key]; ok && i < len(f.KV) && f.KV[i].Key == key {
		return f.KV[i].Value, true
	}
	for _, kv := range f.KV {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

// String returns the value of key if it is a string.
func (f *File) String(key string) (string, bool) {
	v, _ := f.Value(key)
	s, ok := v.(string)
	return s, ok
}

// Uint returns the value of key if it is an integer of any width or
// signedness and not negative. Writers disagree on the integer type of keys
// like context_length, so readers should not care.
func (f *File) Uint(key string) (uint64, bool) {
	v, _ := f.Value(key)
	var i int64
	switch v := v.(type) {
	case uint8:
		return uint64(v), true
	case uint16:
		return uint64(v), true
	case uint32:
		return uint64(v), true
	case uint64:
		return v, true
	case int8:
		i = int64(v)
	case int16:
		i = int64(v)
	case int32:
		i = int64(v)
	case int64:
		i = v
	default:
		return 0, false
	}
	if i < 0 {
		return 0, false
	}
	return uint64(i), true
}

// Float returns the value of key if it is a float32 or float64, or an
// integer (converted, possibly rounding for huge 64-bit values).
func (f *File) Float(key string) (float64, bool) {
	v, _ := f.Value(key)
	switch v := v.(type) {
	case float32:
		return float64(v), true
	case float64:
		return v, true
	case int8:
		return float64(v), true
	case int16:
		return float64(v), true
	case int32:
		return float64(v), true
	case int64:
		return float64(v), true
	case uint8, uint16, uint32, uint64:
		u, _ := f.Uint(key)
		return float64(u), true
	}
	return 0, false
}

// Strings returns the value of key if it is an array of strings. The slice
// is shared with the File.
func (f *File) Strings(key string) ([]string, bool) {
	v, _ := f.Value(key)
	s, ok := v.([]string)
	return s, ok
}

// Architecture returns general.architecture, or "" if it is missing.
func (f *File) Architecture() string {
	s, _ := f.String("general.architecture")
	return s
}

// ParameterCount returns the total number of tensor elements.
func (f *File) ParameterCount() uint64 {
	var n uint64
	for _, t := range f.Tensors {
		n += t.NumElements()
	}
	return n
}

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	if i, ok := f.tensorIndex[name]; ok && i < len(f.Tensors) && f.Tensors[i].Name == name {
		return f.Tensors[i], true
	}
	for _, t := range f.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return TensorInfo{}, false
}

// TensorReader returns a reader over the data of tensor t, where r reads the
// same file f was decoded from.
func (f *File) TensorReader(r io.ReaderAt, t TensorInfo) *io.SectionReader {
	return io.NewSectionReader(r, f.DataOffset+int64(t.Offset), int64(t.Size()))
}

// TypeCount is how many tensors have one type.
type TypeCount struct {
	Type  Type
	Count int
}

// TypeCounts counts tensors by type, most common first (ties by name). With
// matricesOnly it counts only tensors of two or more dimensions: the weight
// matrices, whose type is what "the model's quantization" means.
func (f *File) TypeCounts(matricesOnly bool) []TypeCount {
	counts := map[Type]int{}
	for _, t := range f.Tensors {
		if !matricesOnly || len(t.Dims) >= 2 {
			counts[t.Type]++
		}
	}
	out := make([]TypeCount, 0, len(counts))
	for t, n := range counts {
		out = append(out, TypeCount{t, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Type.String() < out[j].Type.String()
	})
	return out
}
