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

// MaxTermBytes bounds a stored term.
const MaxTermBytes = 1024

// EncodePostings is a chunk's postings in stored form: a uvarint count, then per term
// a uvarint length, the term's bytes and a uvarint frequency.
func EncodePostings(ts []TermFreq) []byte {
	b := binary.AppendUvarint(nil, uint64(len(ts)))
	for _, t := range ts {
		b = binary.AppendUvarint(b, uint64(len(t.Term)))
		b = append(b, t.Term...)
		b = binary.AppendUvarint(b, uint64(t.TF))
	}
	return b
}

// DecodePostings reads stored postings; anything malformed or left over is an error.
func DecodePostings(b []byte) ([]TermFreq, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, fmt.Errorf("stored postings: bad count")
	}
	b = b[k:]
	out := make([]TermFreq, 0, n)
	for range n {
		l, k := binary.Uvarint(b)
		if k <= 0 || l == 0 || l > MaxTermBytes || l > uint64(len(b)-k) {
			return nil, fmt.Errorf("stored postings: bad term length")
		}
		term := string(b[k : k+int(l)])
		b = b[k+int(l):]
		tf, k := binary.Uvarint(b)
		if k <= 0 || tf == 0 || tf > 1<<31 {
			return nil, fmt.Errorf("stored postings: bad frequency for %q", term)
		}
		b = b[k:]
		out = append(out, TermFreq{Term: term, TF: int(tf)})
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("stored postings: %d trailing bytes", len(b))
	}
	return out, nil
}

// EncodeVectors is a run of vectors of one length in stored form: their
// EncodeVectors concatenated. bbolt stores one value of a run in whole overflow pages,
// where one 1024-dimension vector (4 KB and a header) would take two pages.
func EncodeVectors(vs [][]float32) []byte {
	var b []byte
	for _, v := range vs {
		b = append(b, EncodeVector(v)...)
	}
	return b
}

// DecodeVectors reads a stored run of dim-long vectors.
func DecodeVectors(b []byte, dim int) ([][]float32, error) {
	if dim <= 0 || dim > MaxDim || len(b) == 0 || len(b)%(4*dim) != 0 {
		return nil, fmt.Errorf("stored vectors: %d bytes for vectors of %d dimensions", len(b), dim)
	}
	out := make([][]float32, 0, len(b)/(4*dim))
	for off := 0; off < len(b); off += 4 * dim {
		v, err := DecodeVector(b[off:off+4*dim], dim)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
