package gguf

import (
	"fmt"
	"math/bits"
)

// Type is a ggml tensor type id as stored in GGUF tensor infos (enum
// ggml_type in ggml.h).
type Type uint32

// Tensor types, numbered as in ggml.h. Ids 4, 5, 31-33 and 36-38 are gaps
// left by types ggml removed; 36 is also the id bitnet.cpp uses for I2_S.
//
// The underscores mirror ggml's names so that ids can be grepped across both
// code bases.
const (
	TypeF32     Type = 0
	TypeF16     Type = 1
	TypeQ4_0    Type = 2
	TypeQ4_1    Type = 3
	TypeQ5_0    Type = 6
	TypeQ5_1    Type = 7
	TypeQ8_0    Type = 8
	TypeQ8_1    Type = 9
	TypeQ2_K    Type = 10
	TypeQ3_K    Type = 11
	TypeQ4_K    Type = 12
	TypeQ5_K    Type = 13
	TypeQ6_K    Type = 14
	TypeQ8_K    Type = 15
	TypeIQ2_XXS Type = 16
	TypeIQ2_XS  Type = 17
	TypeIQ3_XXS Type = 18
	TypeIQ1_S   Type = 19
	TypeIQ4_NL  Type = 20
	TypeIQ3_S   Type = 21
	TypeIQ2_S   Type = 22
	TypeIQ4_XS  Type = 23
	TypeI8      Type = 24
	TypeI16     Type = 25
	TypeI32     Type = 26
	TypeI64     Type = 27
	TypeF64     Type = 28
	TypeIQ1_M   Type = 29
	TypeBF16    Type = 30
	TypeTQ1_0   Type = 34
	TypeTQ2_0   Type = 35
	TypeMXFP4   Type = 39

	// TypeI2_S is bitnet.cpp's ternary type (Microsoft's BitNet b1.58 GGUFs). ggml
	// cannot run it: DecodeForImport reads it so that it can be repacked to TQ2_0.
	TypeI2_S Type = 36

	// typeCount is GGML_TYPE_COUNT: ids at or above it are unknown to ggml.
	typeCount Type = 40
)

type typeTraits struct {
	name      string
	blockSize uint64 // elements per block (ggml blck_size)
	typeSize  uint64 // bytes per block (ggml type_size = sizeof(block_x))
}

// traits mirrors ggml.c's type_traits table; block byte sizes come from the
// static_asserts on the block structs in ggml-common.h (QK_K = 256).
var traits = [typeCount]typeTraits{
	TypeF32:     {"F32", 1, 4},
	TypeF16:     {"F16", 1, 2},
	TypeQ4_0:    {"Q4_0", 32, 2 + 16},
	TypeQ4_1:    {"Q4_1", 32, 2*2 + 16},
	TypeQ5_0:    {"Q5_0", 32, 2 + 4 + 16},
	TypeQ5_1:    {"Q5_1", 32, 2*2 + 4 + 16},
	TypeQ8_0:    {"Q8_0", 32, 2 + 32},
	TypeQ8_1:    {"Q8_1", 32, 2*2 + 32},
	TypeQ2_K:    {"Q2_K", 256, 2*2 + 256/16 + 256/4},
	TypeQ3_K:    {"Q3_K", 256, 2 + 256/4 + 256/8 + 12},
	TypeQ4_K:    {"Q4_K", 256, 2*2 + 12 + 256/2},
	TypeQ5_K:    {"Q5_K", 256, 2*2 + 12 + 256/2 + 256/8},
	TypeQ6_K:    {"Q6_K", 256, 2 + 256/16 + 3*256/4},
	TypeQ8_K:    {"Q8_K", 256, 4 + 256 + 256/16*2},
	TypeIQ2_XXS: {"IQ2_XXS", 256, 2 + 256/8*2},
	TypeIQ2_XS:  {"IQ2_XS", 256, 2 + 256/8*2 + 256/32},
	TypeIQ3_XXS: {"IQ3_XXS", 256, 2 + 3*(256/8)},
	TypeIQ1_S:   {"IQ1_S", 256, 2 + 256/8 + 256/16},
	TypeIQ4_NL:  {"IQ4_NL", 32, 2 + 32/2},
	TypeIQ3_S:   {"IQ3_S", 256, 2 + 13*(256/32) + 256/64},
	TypeIQ2_S:   {"IQ2_S", 256, 2 + 256/4 + 256/16},
	TypeIQ4_XS:  {"IQ4_XS", 256, 2 + 2 + 256/64 + 256/2},
	TypeI8:      {"I8", 1, 1},
	TypeI16:     {"I16", 1, 2},
	TypeI32:     {"I32", 1, 4},
	TypeI64:     {"I64", 1, 8},
	TypeF64:     {"F64", 1, 8},
	TypeIQ1_M:   {"IQ1_M", 256, 256/8 + 256/16 + 256/32},
	TypeBF16:    {"BF16", 1, 2},
	TypeTQ1_0:   {"TQ1_0", 256, 2 + 256/64 + (256-4*256/64)/5},
	TypeTQ2_0:   {"TQ2_0", 256, 2 + 256/4},
	TypeMXFP4:   {"MXFP4", 32, 1 + 32/2},
}

// removedTypes explains ids that ggml no longer accepts, so that an error can
// tell the user what the file probably is and what to do about it.
var removedTypes = map[Type]string{
	4:  "Q4_2, removed from ggml; requantize",
	5:  "Q4_3, removed from ggml; requantize",
	31: "Q4_0_4_4, removed from GGUF files; use Q4_0 (ggml repacks at load time)",
	32: "Q4_0_4_8, removed from GGUF files; use Q4_0 (ggml repacks at load time)",
	33: "Q4_0_8_8, removed from GGUF files; use Q4_0 (ggml repacks at load time)",
	36: "bitnet.cpp's I2_S (formerly ggml's IQ4_NL_4_4), which mainline ggml cannot run; convert the ternary weights to TQ1_0 or TQ2_0",
	37: "IQ4_NL_4_8, removed from GGUF files; use IQ4_NL (ggml repacks at load time)",
	38: "IQ4_NL_8_8, removed from GGUF files; use IQ4_NL (ggml repacks at load time)",
}

// I2SGroup is the number of weights in one 32-byte group of an I2_S tensor.
const I2SGroup = 128

// I2SSize returns the bytes of an I2_S tensor of n weights: 2 bits per weight, then
// one float32 scale for the whole tensor and 28 unused bytes.
func I2SSize(n uint64) uint64 { return n/4 + 32 }

// Known reports whether ggml can load tensors of type t.
func (t Type) Known() bool {
	return t < typeCount && traits[t].blockSize != 0
}

// String returns ggml's name for t in upper case ("Q4_K", "TQ2_0"), or
// "type(N)" for ids ggml does not define.
func (t Type) String() string {
	if !t.Known() {
		return fmt.Sprintf("type(%d)", uint32(t))
	}
	return traits[t].name
}

// BlockSize returns the number of elements in one block of t, or 0 if t is
// not Known.
func (t Type) BlockSize() uint64 {
	if !t.Known() {
		return 0
	}
	return traits[t].blockSize
}

// TypeSize returns the number of bytes in one block of t, or 0 if t is not
// Known.
func (t Type) TypeSize() uint64 {
	if !t.Known() {
		return 0
	}
	return traits[t].typeSize
}

// RowSize returns the bytes needed for ne0 elements of type t, the size of
// one row in ggml's layout.
func RowSize(t Type, ne0 uint64) (uint64, error) {
	if !t.Known() {
		return 0, fmt.Errorf("gguf: %w %s", ErrUnsupportedType, t)
	}
	bs := t.BlockSize()
	if ne0%bs != 0 {
		return 0, fmt.Errorf("gguf: type %s needs ne0 multiple of %d, got %d", t, bs, ne0)
	}
	hi, lo := bits.Mul64(ne0/bs, t.TypeSize())
	if hi != 0 {
		return 0, fmt.Errorf("gguf: row of %d %s elements overflows uint64", ne0, t)
	}
	return lo, nil
}

// ValueType is the type tag of a GGUF metadata value (enum gguf_type).
type ValueType uint32

// Metadata value types, numbered as in gguf.h.
const (
	ValueTypeUint8   ValueType = 0
	ValueTypeInt8    ValueType = 1
	ValueTypeUint16  ValueType = 2
	ValueTypeInt16   ValueType = 3
	ValueTypeUint32  ValueType = 4
	ValueTypeInt32   ValueType = 5
	ValueTypeFloat32 ValueType = 6
	ValueTypeBool    ValueType = 7
	ValueTypeString  ValueType = 8
	ValueTypeArray   ValueType = 9
	ValueTypeUint64  ValueType = 10
	ValueTypeInt64   ValueType = 11
	ValueTypeFloat64 ValueType = 12

	valueTypeCount ValueType = 13
)

var valueTypeNames = [valueTypeCount]string{
	"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
	"bool", "string", "array", "uint64", "int64", "float64",
}

// String returns the Go-style name of the value type ("uint32", "array"), or
// "valuetype(N)" for an invalid tag.
func (v ValueType) String() string {
	if v >= valueTypeCount {
		return fmt.Sprintf("valuetype(%d)", uint32(v))
	}
	return valueTypeNames[v]
}

// size returns the encoded size of one scalar of type v, 0 for strings and
// arrays whose size depends on their content.
func (v ValueType) size() uint64 {
	switch v {
	case ValueTypeUint8, ValueTypeInt8, ValueTypeBool:
		return 1
	case ValueTypeUint16, ValueTypeInt16:
		return 2
	case ValueTypeUint32, ValueTypeInt32, ValueTypeFloat32:
		return 4
	case ValueTypeUint64, ValueTypeInt64, ValueTypeFloat64:
		return 8
	}
	return 0
}
