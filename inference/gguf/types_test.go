package gguf

import (
	"errors"
	"strings"
	"testing"
)

// TestTypeTraits pins block and byte sizes for every ggml type, as listed
// in ggml.c's type_traits (sizes from the block structs in ggml-common.h).
func TestTypeTraits(t *testing.T) {
	tests := []struct {
		typ        Type
		id         uint32
		name       string
		block, siz uint64
	}{
		{TypeF32, 0, "F32", 1, 4},
		{TypeF16, 1, "F16", 1, 2},
		{TypeQ4_0, 2, "Q4_0", 32, 18},
		{TypeQ4_1, 3, "Q4_1", 32, 20},
		{TypeQ5_0, 6, "Q5_0", 32, 22},
		{TypeQ5_1, 7, "Q5_1", 32, 24},
		{TypeQ8_0, 8, "Q8_0", 32, 34},
		{TypeQ8_1, 9, "Q8_1", 32, 36},
		{TypeQ2_K, 10, "Q2_K", 256, 84},
		{TypeQ3_K, 11, "Q3_K", 256, 110},
		{TypeQ4_K, 12, "Q4_K", 256, 144},
		{TypeQ5_K, 13, "Q5_K", 256, 176},
		{TypeQ6_K, 14, "Q6_K", 256, 210},
		{TypeQ8_K, 15, "Q8_K", 256, 292},
		{TypeIQ2_XXS, 16, "IQ2_XXS", 256, 66},
		{TypeIQ2_XS, 17, "IQ2_XS", 256, 74},
		{TypeIQ3_XXS, 18, "IQ3_XXS", 256, 98},
		{TypeIQ1_S, 19, "IQ1_S", 256, 50},
		{TypeIQ4_NL, 20, "IQ4_NL", 32, 18},
		{TypeIQ3_S, 21, "IQ3_S", 256, 110},
		{TypeIQ2_S, 22, "IQ2_S", 256, 82},
		{TypeIQ4_XS, 23, "IQ4_XS", 256, 136},
		{TypeI8, 24, "I8", 1, 1},
		{TypeI16, 25, "I16", 1, 2},
		{TypeI32, 26, "I32", 1, 4},
		{TypeI64, 27, "I64", 1, 8},
		{TypeF64, 28, "F64", 1, 8},
		{TypeIQ1_M, 29, "IQ1_M", 256, 56},
		{TypeBF16, 30, "BF16", 1, 2},
		{TypeTQ1_0, 34, "TQ1_0", 256, 54},
		{TypeTQ2_0, 35, "TQ2_0", 256, 66},
		{TypeMXFP4, 39, "MXFP4", 32, 17},
	}
	known := map[Type]bool{}
	for _, tt := range tests {
		known[tt.typ] = true
		if uint32(tt.typ) != tt.id || tt.typ.String() != tt.name || !tt.typ.Known() ||
			tt.typ.BlockSize() != tt.block || tt.typ.TypeSize() != tt.siz {
			t.Errorf("%d: got id %d %q known=%v block %d size %d, want %q %d %d",
				tt.id, uint32(tt.typ), tt.typ, tt.typ.Known(), tt.typ.BlockSize(), tt.typ.TypeSize(), tt.name, tt.block, tt.siz)
		}
	}
	for id := range Type(300) {
		if known[id] {
			continue
		}
		if id.Known() || id.BlockSize() != 0 || id.TypeSize() != 0 {
			t.Errorf("type %d should be unknown", id)
		}
	}
	if got := Type(36).String(); got != "type(36)" {
		t.Errorf("Type(36).String() = %q", got)
	}
}

func TestRowSize(t *testing.T) {
	if n, err := RowSize(TypeTQ2_0, 2560); err != nil || n != 10*66 {
		t.Errorf("RowSize(TQ2_0, 2560) = %d, %v", n, err)
	}
	if n, err := RowSize(TypeF16, 7); err != nil || n != 14 {
		t.Errorf("RowSize(F16, 7) = %d, %v", n, err)
	}
	if _, err := RowSize(TypeTQ1_0, 100); err == nil || !strings.Contains(err.Error(), "multiple of 256") {
		t.Errorf("RowSize(TQ1_0, 100) error = %v", err)
	}
	if _, err := RowSize(36, 256); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("RowSize(36) error = %v", err)
	}
	if _, err := RowSize(TypeF64, 1<<62); err == nil {
		t.Error("RowSize overflow not detected")
	}
}

func TestValueTypeString(t *testing.T) {
	if ValueTypeFloat64.String() != "float64" || ValueTypeArray.String() != "array" || ValueType(13).String() != "valuetype(13)" {
		t.Error("ValueType.String")
	}
}
