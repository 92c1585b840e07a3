package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"slices"
	"strings"
	"unicode/utf8"
)

const (
	magic = "GGUF"

	// readBufSize bounds every single Peek. Large enough that a whole
	// vocabulary string or a chunk of a numeric array is decoded from the
	// buffer without copying through an intermediate slice.
	readBufSize = 64 << 10

	// Minimum encoded sizes, used to reject counts that cannot fit in the
	// rest of the file before anything is allocated for them.
	minKVBytes     = 8 + 1 + 4 + 1         // key length, 1-byte key, type, uint8 value
	minTensorBytes = 8 + 1 + 4 + 8 + 4 + 8 // name length, 1-byte name, n_dims, one dim, type, offset

	// Initial capacity cap for slices sized from file counts: the count is
	// already bounded by the file size, but growing by append keeps memory
	// proportional to what was actually parsed rather than to the claim.
	maxPrealloc = 4096
)

// Open decodes the GGUF header of the file at path. Errors name the path.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("gguf: %s: not a regular file", path)
	}
	f, err := Decode(fh, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Decode reads and validates the GGUF header from r, whose total length is
// size. It reads no tensor data but checks that every tensor lies inside the
// file. Any returned error wraps ErrNotGGUF, ErrTruncated, ErrUnsupportedType
// or ErrInvalid, or else is an I/O error from r.
func Decode(r io.ReaderAt, size int64) (*File, error) {
	return decodeFile(r, size, false)
}

// DecodeForImport is Decode for files that are read but never given to llama.cpp:
// it also accepts bitnet.cpp's I2_S tensors (TypeI2_S, whose element count must be a
// multiple of I2SGroup), and only requires tensors to lie inside the file without
// overlapping, not llama.cpp's exact header-order layout.
func DecodeForImport(r io.ReaderAt, size int64) (*File, error) {
	return decodeFile(r, size, true)
}

func decodeFile(r io.ReaderAt, size int64, forImport bool) (*File, error) {
	if size < 0 {
		return nil, fmt.Errorf("gguf: negative file size %d", size)
	}
	// A small file gets a small buffer: no take can need more than the
	// whole file, and fuzzing runs millions of tiny inputs.
	d := &decoder{
		br:        bufio.NewReaderSize(io.NewSectionReader(r, 0, size), int(max(16, min(readBufSize, size)))),
		size:      size,
		forImport: forImport,
	}
	f, err := d.decode()
	if err != nil {
		return nil, err
	}
	f.Size = size
	return f, nil
}

type decoder struct {
	br        *bufio.Reader
	pos       int64 // absolute offset of the next unread byte
	size      int64
	forImport bool // accept I2_S and any non-overlapping layout (DecodeForImport)
}

func (d *decoder) remaining() uint64 { return uint64(d.size - d.pos) }

func errorf(kind error, format string, args ...any) error {
	return &formatError{msg: "gguf: " + fmt.Sprintf(format, args...), kind: kind}
}

// take returns the next n bytes (n <= readBufSize), valid until the next
// read. what+sub describes the field for error messages; it comes in two
// parts so that the hot path never concatenates strings.
func (d *decoder) take(n int, what, sub string) ([]byte, error) {
	if uint64(n) > d.remaining() {
		return nil, errorf(ErrTruncated, "%s%s at offset %d: file truncated (%d bytes, need %d more)", what, sub, d.pos, d.size, uint64(n)-d.remaining())
	}
	b, err := d.br.Peek(n)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errorf(ErrTruncated, "%s%s at offset %d: file truncated (%d bytes, need %d more)", what, sub, d.pos, d.size, int64(n)-int64(len(b)))
		}
		return nil, fmt.Errorf("gguf: reading %s%s at offset %d: %w", what, sub, d.pos, err)
	}
	d.br.Discard(n) // cannot fail after a successful Peek of n bytes
	d.pos += int64(n)
	return b, nil
}

func (d *decoder) u32(what, sub string) (uint32, error) {
	b, err := d.take(4, what, sub)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (d *decoder) u64(what, sub string) (uint64, error) {
	b, err := d.take(8, what, sub)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// str reads a length-prefixed string of at most maxLen bytes. The length is
// checked against maxLen and the remaining file before allocating. If arena
// is not nil the bytes are appended to it instead of getting their own
// allocation.
func (d *decoder) str(what string, maxLen uint64, arena *stringArena) (string, error) {
	at := d.pos
	n, err := d.u64(what, " length")
	if err != nil {
		return "", err
	}
	if n > maxLen {
		return "", errorf(ErrInvalid, "%s at offset %d: length %d exceeds the limit of %d", what, at, n, maxLen)
	}
	if n > d.remaining() {
		return "", errorf(ErrTruncated, "%s at offset %d: length %d exceeds the %d bytes left in the file", what, at, n, d.remaining())
	}
	if n == 0 {
		return "", nil
	}
	sb := arena.builder(int(n))
	start := sb.Len()
	for left := int(n); left > 0; {
		b, err := d.take(min(left, readBufSize), what, "")
		if err != nil {
			return "", err
		}
		sb.Write(b)
		left -= len(b)
	}
	return sb.String()[start:], nil
}

// stringArena packs the many short strings of a vocabulary array into a few
// large allocations. Strings returned earlier stay valid because a
// strings.Builder only ever appends: growing copies into a new buffer and
// leaves the old one, still referenced by those strings, untouched.
type stringArena struct {
	sb   *strings.Builder
	next int // size of the next chunk
}

// Chunks start small and double, so that memory stays proportional to the
// bytes actually read even for a file made of many tiny string arrays.
const (
	arenaFirstChunk = 256
	arenaMaxChunk   = 64 << 10
)

// builder returns a Builder with room for n more bytes. A nil arena hands
// out a fresh, exactly sized Builder each time.
func (a *stringArena) builder(n int) *strings.Builder {
	if a == nil {
		sb := new(strings.Builder)
		sb.Grow(n)
		return sb
	}
	if a.sb == nil || a.sb.Cap()-a.sb.Len() < n {
		a.next = min(max(a.next*2, arenaFirstChunk), arenaMaxChunk)
		a.sb = new(strings.Builder)
		a.sb.Grow(max(n, a.next))
	}
	return a.sb
}

func (d *decoder) decode() (*File, error) {
	m, err := d.take(4, "magic", "")
	if err != nil {
		if errors.Is(err, ErrTruncated) {
			return nil, errorf(ErrNotGGUF, "file of %d bytes is too short for the GGUF magic", d.size)
		}
		return nil, err
	}
	if string(m) != magic {
		return nil, errorf(ErrNotGGUF, "bad magic %q, want %q", m, magic)
	}

	f := &File{Alignment: DefaultAlignment}
	if f.Version, err = d.u32("version", ""); err != nil {
		return nil, err
	}
	switch v := f.Version; {
	case v == 2 || v == 3:
	case v == 1:
		return nil, errorf(ErrInvalid, "GGUF v1 is not supported (llama.cpp dropped it); re-convert the model")
	case v != 0 && v&0xFFFF == 0:
		return nil, errorf(ErrInvalid, "version %#x looks byte-swapped: big-endian GGUF files are not supported", v)
	default:
		return nil, errorf(ErrInvalid, "unsupported GGUF version %d (want 2 or 3)", v)
	}

	nTensors, err := d.u64("tensor count", "")
	if err != nil {
		return nil, err
	}
	nKV, err := d.u64("metadata count", "")
	if err != nil {
		return nil, err
	}
	// Both counts are bounded together: tensor infos follow the KVs, so the
	// file must hold the minimum encoding of all of them.
	if nKV > d.remaining()/minKVBytes {
		return nil, errorf(ErrTruncated, "metadata count %d cannot fit in the %d bytes left in the file", nKV, d.remaining())
	}
	if nTensors > (d.remaining()-nKV*minKVBytes)/minTensorBytes {
		return nil, errorf(ErrTruncated, "tensor count %d cannot fit in the %d bytes left in the file", nTensors, d.remaining())
	}

	if err := d.decodeKVs(f, nKV); err != nil {
		return nil, err
	}
	if err := d.decodeTensorInfos(f, nTensors); err != nil {
		return nil, err
	}
	if err := d.checkLayout(f); err != nil {
		return nil, err
	}
	return f, nil
}

func (d *decoder) decodeKVs(f *File, n uint64) error {
	f.KV = make([]KV, 0, min(n, maxPrealloc))
	f.kvIndex = make(map[string]int, min(n, maxPrealloc))
	for i := range n {
		at := d.pos
		key, err := d.str(fmt.Sprintf("metadata key %d", i), math.MaxUint64, nil)
		if err != nil {
			return err
		}
		if err := checkKey(key); err != nil {
			return errorf(ErrInvalid, "metadata key %d at offset %d: %v", i, at, err)
		}
		if j, dup := f.kvIndex[key]; dup {
			return errorf(ErrInvalid, "metadata key %q at offset %d duplicates key %d", key, at, j)
		}
		what := fmt.Sprintf("metadata %q", key)
		typAt := d.pos
		t, err := d.u32(what, " type")
		if err != nil {
			return err
		}
		var v any
		switch vt := ValueType(t); {
		case vt == ValueTypeArray:
			v, err = d.array(what)
		case vt < valueTypeCount:
			v, err = d.scalar(vt, what)
		default:
			return errorf(ErrInvalid, "%s at offset %d: invalid value type %d", what, typAt, t)
		}
		if err != nil {
			return err
		}
		f.kvIndex[key] = len(f.KV)
		f.KV = append(f.KV, KV{Key: key, Value: v})
	}

	if v, ok := f.Value(KeyAlignment); ok {
		// llama.cpp reads this with gguf_get_val_u32, which aborts the
		// process on any other type, so the type is part of the contract.
		a, ok := v.(uint32)
		if !ok {
			return errorf(ErrInvalid, "%s must be a uint32, got %s", KeyAlignment, describe(v))
		}
		if a == 0 || a&(a-1) != 0 {
			return errorf(ErrInvalid, "%s is %d, not a power of two", KeyAlignment, a)
		}
		f.Alignment = uint64(a)
	}
	return nil
}

// checkKey enforces what llama.cpp needs from a key: it asserts non-empty
// keys, and looks keys up with strcmp, so an embedded NUL would make two
// distinct keys compare equal.
func checkKey(key string) error {
	switch {
	case key == "":
		return errors.New("empty key")
	case !utf8.ValidString(key):
		return fmt.Errorf("key %q is not valid UTF-8", key)
	case strings.IndexByte(key, 0) >= 0:
		return fmt.Errorf("key %q contains a NUL byte", key)
	}
	return nil
}

func describe(v any) string {
	if vt, elem, ok := valueTypeOf(v); ok {
		if vt == ValueTypeArray {
			return "array of " + elem.String()
		}
		return vt.String()
	}
	return fmt.Sprintf("%T", v)
}

func (d *decoder) scalar(vt ValueType, what string) (any, error) {
	if vt == ValueTypeString {
		return d.str(what, math.MaxUint64, nil)
	}
	b, err := d.take(int(vt.size()), what, "")
	if err != nil {
		return nil, err
	}
	return decodeScalar(vt, b), nil
}

// decodeScalar decodes a fixed-size scalar from b, which holds at least
// vt.size() bytes.
func decodeScalar(vt ValueType, b []byte) any {
	le := binary.LittleEndian
	switch vt {
	case ValueTypeUint8:
		return b[0]
	case ValueTypeInt8:
		return int8(b[0])
	case ValueTypeUint16:
		return le.Uint16(b)
	case ValueTypeInt16:
		return int16(le.Uint16(b))
	case ValueTypeUint32:
		return le.Uint32(b)
	case ValueTypeInt32:
		return int32(le.Uint32(b))
	case ValueTypeFloat32:
		return math.Float32frombits(le.Uint32(b))
	case ValueTypeBool:
		// Like llama.cpp, any non-zero byte is true.
		return b[0] != 0
	case ValueTypeUint64:
		return le.Uint64(b)
	case ValueTypeInt64:
		return int64(le.Uint64(b))
	case ValueTypeFloat64:
		return math.Float64frombits(le.Uint64(b))
	}
	panic("gguf: decodeScalar: not a fixed-size type " + vt.String())
}

func (d *decoder) array(what string) (any, error) {
	at := d.pos
	et, err := d.u32(what, " array element type")
	if err != nil {
		return nil, err
	}
	elem := ValueType(et)
	switch {
	case elem == ValueTypeArray:
		return nil, errorf(ErrInvalid, "%s at offset %d: arrays of arrays are not supported", what, at)
	case elem >= valueTypeCount:
		return nil, errorf(ErrInvalid, "%s at offset %d: invalid array element type %d", what, at, et)
	}
	at = d.pos
	n, err := d.u64(what, " array length")
	if err != nil {
		return nil, err
	}
	// Strings take at least their 8-byte length prefix.
	minSize := elem.size()
	if elem == ValueTypeString {
		minSize = 8
	}
	if n > d.remaining()/minSize {
		return nil, errorf(ErrTruncated, "%s at offset %d: array of %d %s cannot fit in the %d bytes left in the file", what, at, n, elem, d.remaining())
	}

	le := binary.LittleEndian
	switch elem {
	case ValueTypeString:
		out := make([]string, n)
		var arena stringArena
		for i := range out {
			if out[i], err = d.str(what, math.MaxUint64, &arena); err != nil {
				return nil, err
			}
		}
		return out, nil
	case ValueTypeUint8:
		return readArray(d, n, 1, what, func(b []byte) uint8 { return b[0] })
	case ValueTypeInt8:
		return readArray(d, n, 1, what, func(b []byte) int8 { return int8(b[0]) })
	case ValueTypeBool:
		return readArray(d, n, 1, what, func(b []byte) bool { return b[0] != 0 })
	case ValueTypeUint16:
		return readArray(d, n, 2, what, le.Uint16)
	case ValueTypeInt16:
		return readArray(d, n, 2, what, func(b []byte) int16 { return int16(le.Uint16(b)) })
	case ValueTypeUint32:
		return readArray(d, n, 4, what, le.Uint32)
	case ValueTypeInt32:
		return readArray(d, n, 4, what, func(b []byte) int32 { return int32(le.Uint32(b)) })
	case ValueTypeFloat32:
		return readArray(d, n, 4, what, func(b []byte) float32 { return math.Float32frombits(le.Uint32(b)) })
	case ValueTypeUint64:
		return readArray(d, n, 8, what, le.Uint64)
	case ValueTypeInt64:
		return readArray(d, n, 8, what, func(b []byte) int64 { return int64(le.Uint64(b)) })
	case ValueTypeFloat64:
		return readArray(d, n, 8, what, func(b []byte) float64 { return math.Float64frombits(le.Uint64(b)) })
	}
	panic("unreachable")
}

// readArray decodes n fixed-size elements straight out of the read buffer,
// a buffer-full at a time. The caller has checked n*size fits in the file.
func readArray[T any](d *decoder, n uint64, size int, what string, conv func([]byte) T) ([]T, error) {
	out := make([]T, n)
	for i := 0; i < len(out); {
		k := min(len(out)-i, readBufSize/size)
		b, err := d.take(k*size, what, "")
		if err != nil {
			return nil, err
		}
		for j := range k {
			out[i+j] = conv(b[j*size:])
		}
		i += k
	}
	return out, nil
}

var dimNames = [MaxDims]string{" dim 0", " dim 1", " dim 2", " dim 3"}

func (d *decoder) decodeTensorInfos(f *File, n uint64) error {
	f.Tensors = make([]TensorInfo, 0, min(n, maxPrealloc))
	f.tensorIndex = make(map[string]int, min(n, maxPrealloc))
	for i := range n {
		at := d.pos
		name, err := d.str(fmt.Sprintf("tensor %d name", i), MaxNameLen, nil)
		if err != nil {
			return err
		}
		switch {
		case name == "":
			return errorf(ErrInvalid, "tensor %d at offset %d: empty name", i, at)
		case strings.IndexByte(name, 0) >= 0:
			// ggml stores names as C strings; the tail would be cut off.
			return errorf(ErrInvalid, "tensor %d at offset %d: name %q contains a NUL byte", i, at, name)
		}
		if j, dup := f.tensorIndex[name]; dup {
			return errorf(ErrInvalid, "tensor %d %q at offset %d: duplicate name (also tensor %d)", i, name, at, j)
		}
		what := fmt.Sprintf("tensor %q", name)

		at = d.pos
		nDims, err := d.u32(what, " n_dims")
		if err != nil {
			return err
		}
		if nDims < 1 || nDims > MaxDims {
			return errorf(ErrInvalid, "%s at offset %d: n_dims is %d, want 1..%d", what, at, nDims, MaxDims)
		}
		t := TensorInfo{Name: name, Dims: make([]uint64, nDims)}
		for j := range t.Dims {
			if t.Dims[j], err = d.u64(what, dimNames[j]); err != nil {
				return err
			}
			if t.Dims[j] == 0 {
				return errorf(ErrInvalid, "%s: dim %d is 0", what, j)
			}
		}
		at = d.pos
		typ, err := d.u32(what, " type")
		if err != nil {
			return err
		}
		t.Type = Type(typ)
		if t.Offset, err = d.u64(what, " offset"); err != nil {
			return err
		}
		check := checkTensor
		if d.forImport && t.Type == TypeI2_S {
			check = checkI2S
		}
		if err := check(t); err != nil {
			return fmt.Errorf("%w (tensor info at offset %d)", err, at)
		}
		f.tensorIndex[name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
	}
	return nil
}

// checkTensor validates type and shape of t; the same rules apply to the
// writer. Dims must already be 1..MaxDims long and non-zero.
func checkTensor(t TensorInfo) error {
	what := fmt.Sprintf("tensor %q", t.Name)
	if !t.Type.Known() {
		if why, ok := removedTypes[t.Type]; ok {
			return &formatError{
				msg:  fmt.Sprintf("gguf: %s: %s %d is %s", what, ErrUnsupportedType, uint32(t.Type), why),
				kind: ErrUnsupportedType,
			}
		}
		return &formatError{
			msg:  fmt.Sprintf("gguf: %s: %s %d (ggml defines ids below %d)", what, ErrUnsupportedType, uint32(t.Type), typeCount),
			kind: ErrUnsupportedType,
		}
	}
	// ggml keeps ne[] and byte strides in int64, so the element count and
	// the byte size must both stay below 2^63-1 (llama.cpp rejects >=
	// INT64_MAX elements).
	n := uint64(1)
	for _, dim := range t.Dims {
		hi, lo := bits.Mul64(n, dim)
		if hi != 0 || lo >= math.MaxInt64 {
			return errorf(ErrInvalid, "%s: shape %v has 2^63-1 or more elements, too many for ggml", what, t.Dims)
		}
		n = lo
	}
	bs := t.Type.BlockSize()
	if t.Dims[0]%bs != 0 {
		return errorf(ErrInvalid, "%s: type %s needs ne0 multiple of %d, got %d", what, t.Type, bs, t.Dims[0])
	}
	// ne0 is a whole number of blocks, so n/bs is the exact block count.
	hi, size := bits.Mul64(n/bs, t.Type.TypeSize())
	if hi != 0 || size >= math.MaxInt64 {
		return errorf(ErrInvalid, "%s: shape %v of %s is 2^63-1 bytes or more", what, t.Dims, t.Type)
	}
	return nil
}

// checkI2S validates the shape of an I2_S tensor: whole 128-weight groups, and a
// size that cannot overflow.
func checkI2S(t TensorInfo) error {
	n := uint64(1)
	for _, dim := range t.Dims {
		hi, lo := bits.Mul64(n, dim)
		if hi != 0 || lo >= math.MaxInt64 {
			return errorf(ErrInvalid, "tensor %q: shape %v has 2^63-1 or more elements", t.Name, t.Dims)
		}
		n = lo
	}
	if n%I2SGroup != 0 {
		return errorf(ErrInvalid, "tensor %q: I2_S needs a multiple of %d weights, got %d (shape %v)", t.Name, I2SGroup, n, t.Dims)
	}
	return nil
}

func alignUp(n, a uint64) (uint64, bool) {
	r := (n + a - 1) &^ (a - 1)
	return r, r >= n
}

// checkLayout places the data section and checks that every tensor is
// aligned, inside the file, and not overlapping another, then that the
// layout is exactly the one llama.cpp insists on.
func (d *decoder) checkLayout(f *File) error {
	// The data section starts at the first aligned offset after the header;
	// padding bytes in between may be missing only if there is no data.
	start, _ := alignUp(uint64(d.pos), f.Alignment) // pos < 2^63, alignment <= 2^31
	f.DataOffset = int64(start)
	var avail uint64 // bytes in the data section
	if uint64(d.size) > start {
		avail = uint64(d.size) - start
	}

	type span struct {
		start, end uint64
		idx        int
	}
	spans := make([]span, len(f.Tensors))
	for i, t := range f.Tensors {
		if t.Offset%f.Alignment != 0 {
			return errorf(ErrInvalid, "tensor %q: offset %d is not a multiple of the alignment %d", t.Name, t.Offset, f.Alignment)
		}
		size := t.Size()
		end := t.Offset + size
		if end < t.Offset || end > avail {
			return errorf(ErrTruncated, "tensor %q: data at file offset %d+%d (%d bytes) extends past the end of the file (%d bytes)",
				t.Name, start, t.Offset, size, d.size)
		}
		spans[i] = span{t.Offset, end, i}
	}
	sorted := slices.Clone(spans)
	slices.SortFunc(sorted, func(a, b span) int {
		switch {
		case a.start < b.start:
			return -1
		case a.start > b.start:
			return 1
		}
		return 0
	})
	for i := 1; i < len(sorted); i++ {
		a, b := sorted[i-1], sorted[i]
		if b.start < a.end {
			return errorf(ErrInvalid, "tensors %q [%d, %d) and %q [%d, %d) overlap in the data section",
				f.Tensors[a.idx].Name, a.start, a.end, f.Tensors[b.idx].Name, b.start, b.end)
		}
	}

	if d.forImport {
		return nil
	}
	// llama.cpp's gguf_init_from_file requires each tensor to start exactly
	// where the previous one (in header order) ends, rounded up to the
	// alignment; anything else fails to load even if it does not overlap.
	var want uint64
	for i, t := range f.Tensors {
		if t.Offset != want {
			return errorf(ErrInvalid, "tensor %q: offset %d, expected %d: llama.cpp requires tensor data in header order, each tensor padded only to the alignment (%d)",
				t.Name, t.Offset, want, f.Alignment)
		}
		want, _ = alignUp(spans[i].end, f.Alignment) // end < 2^63
	}
	return nil
}
