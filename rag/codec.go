package rag

import (
	"encoding/binary"
	"fmt"
	"math"
)

// MaxDim bounds a stored vector's length (the 2b shape embeds in 2560).
const MaxDim = 1 << 14

// EncodeVector is a vector's stored form: little-endian float32s.
func EncodeVector(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// DecodeVector reads a stored vector of dim finite float32s; anything else is an
// error, never a wrong vector.
func DecodeVector(b []byte, dim int) ([]float32, error) {
	if dim <= 0 || dim > MaxDim || len(b) != 4*dim {
		return nil, fmt.Errorf("stored vector: %d bytes for %d dimensions", len(b), dim)
	}
	v := make([]float32, dim)
	for i := range v {
		x := math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("stored vector: dimension %d is not finite", i)
		}
		v[i] = x
	}
	return v, nil
}
