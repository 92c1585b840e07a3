package quant

import (
	"encoding/binary"
	"fmt"
	"math"
)

// QK_K is the number of weights in one ternary super-block (ggml's QK_K).
// The underscore mirrors ggml's macro name on purpose.
const QK_K = 256

// Block sizes in bytes, from ggml-common.h:
//
//	block_tq1_0 { uint8 qs[48]; uint8 qh[4]; ggml_half d; } // 1.6875 bpw
//	block_tq2_0 { uint8 qs[64]; ggml_half d; }              // 2.0625 bpw
const (
	BlockBytesTQ1_0 = 54
	BlockBytesTQ2_0 = 66
)

const (
	tq1QS = 48 // 5 trits per byte: 32 bytes cover 160 weights, 16 bytes 80
	tq1QH = 4  // 4 trits per byte: the last 16 weights
	tq2QS = 64
)

// pow3 gives the multipliers ggml uses to rotate a packed base-3 byte so that
// trit n ends up in the top "digit" (see dequantize_row_tq1_0).
var pow3 = [6]uint8{1, 3, 9, 27, 81, 243}

// checkBlocks validates the input length and rejects non-finite values. ggml's
// reference quantizers do not check for NaN/Inf: MAX() silently drops NaNs
// depending on their position and lroundf(NaN) is undefined behaviour, so no
// byte layout would be "the" ggml answer; refusing is the only honest option.
func checkBlocks(name string, x []float32) error {
	if len(x)%QK_K != 0 {
		return fmt.Errorf("quant: %s: %d values is not a multiple of %d", name, len(x), QK_K)
	}
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("quant: %s: non-finite value %v at index %d", name, v, i)
		}
	}
	return nil
}

// blockScale returns ggml's per-block scale amax = max|x| and its reciprocal
// (0 for an all-zero block), both in float32 like the C code.
func blockScale(x []float32) (d, id float32) {
	for _, v := range x {
		if a := float32(math.Abs(float64(v))); a > d {
			d = a
		}
	}
	if d != 0 {
		id = 1 / d
	}
	return d, id
}

// trit maps one weight to ggml's code 0, 1, 2 for -1, 0, +1. It is
// lroundf(v*id) + 1: v*id is rounded to float32 first (as C does with
// float*float), then rounded half away from zero, which math.Round does.
func trit(v, id float32) int {
	p := float32(v * id)
	return int(math.Round(float64(p))) + 1
}

// QuantizeTQ2_0 quantizes x to TQ2_0 blocks, a port of ggml's
// quantize_row_tq2_0_ref: per block of 256 the scale is max|x|, each weight
// becomes round(x/scale) in {-1,0,1} stored as a 2-bit code, four codes per
// byte taken 32 weights apart.
func QuantizeTQ2_0(x []float32) ([]byte, error) {
	if err := checkBlocks("TQ2_0", x); err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(x)/QK_K*BlockBytesTQ2_0)
	for ; len(x) > 0; x = x[QK_K:] {
		blk := x[:QK_K]
		d, id := blockScale(blk)
		var qs [tq2QS]byte
		for j := 0; j < tq2QS; j += 32 {
			xs := blk[j*4 : j*4+128]
			for m := 0; m < 32; m++ {
				var q byte
				for n := 0; n < 4; n++ {
					q += byte(trit(xs[m+n*32], id)&3) << (2 * n)
				}
				qs[j+m] = q
			}
		}
		out = append(out, qs[:]...)
		out = binary.LittleEndian.AppendUint16(out, Float32ToFloat16(d))
	}
	return out, nil
}

// packTrits5 packs five codes (0..2), first code most significant, into one
// byte the way ggml does: the base-3 number q < 243 is scaled to
// ceil(q*256/243) so that the decoder can extract each trit with a multiply
// and a shift instead of a division.
func packTrits5(q int) byte {
	return byte((q*256 + (243 - 1)) / 243)
}

// QuantizeTQ1_0 quantizes x to TQ1_0 blocks, a port of ggml's
// quantize_row_tq1_0_ref. Within a block, weights 0..159 go five per byte
// into qs[0:32] (byte m holds weights m, m+32, ..., m+128), weights 160..239
// five per byte into qs[32:48] (stride 16), and weights 240..255 four per byte
// into qh (stride 4, padded with a zero trit).
func QuantizeTQ1_0(x []float32) ([]byte, error) {
	if err := checkBlocks("TQ1_0", x); err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(x)/QK_K*BlockBytesTQ1_0)
	for ; len(x) > 0; x = x[QK_K:] {
		blk := x[:QK_K]
		d, id := blockScale(blk)
		var b [BlockBytesTQ1_0]byte
		for m := 0; m < 32; m++ {
			q := 0
			for n := 0; n < 5; n++ {
				q = q*3 + trit(blk[m+n*32], id)
			}
			b[m] = packTrits5(q)
		}
		for m := 0; m < 16; m++ {
			q := 0
			for n := 0; n < 5; n++ {
				q = q*3 + trit(blk[160+m+n*16], id)
			}
			b[32+m] = packTrits5(q)
		}
		for j := 0; j < tq1QH; j++ {
			q := 0
			for m := 0; m < 4; m++ {
				q = q*3 + trit(blk[240+j+m*tq1QH], id)
			}
			b[tq1QS+j] = packTrits5(q * 3)
		}
		binary.LittleEndian.PutUint16(b[tq1QS+tq1QH:], Float32ToFloat16(d))
		out = append(out, b[:]...)
	}
	return out, nil
}

// DequantizeTQ2_0 expands TQ2_0 blocks to float32, a port of ggml's
// dequantize_row_tq2_0. Code 3 (never produced by the quantizer) decodes to
// +2*d exactly as in ggml.
func DequantizeTQ2_0(b []byte) ([]float32, error) {
	if len(b)%BlockBytesTQ2_0 != 0 {
		return nil, fmt.Errorf("quant: TQ2_0: %d bytes is not a multiple of the %d-byte block", len(b), BlockBytesTQ2_0)
	}
	out := make([]float32, 0, len(b)/BlockBytesTQ2_0*QK_K)
	for ; len(b) > 0; b = b[BlockBytesTQ2_0:] {
		d := Float16ToFloat32(binary.LittleEndian.Uint16(b[tq2QS:]))
		for j := 0; j < tq2QS; j += 32 {
			for l := 0; l < 4; l++ {
				for m := 0; m < 32; m++ {
					q := int((b[j+m] >> (2 * l)) & 3)
					out = append(out, float32(q-1)*d)
				}
			}
		}
	}
	return out, nil
}

// DequantizeTQ1_0 expands TQ1_0 blocks to float32, a port of ggml's
// dequantize_row_tq1_0. Multiplying the packed byte by 3^n (mod 256) moves
// trit n to the top, and (q*3)>>8 reads it back out.
func DequantizeTQ1_0(b []byte) ([]float32, error) {
	if len(b)%BlockBytesTQ1_0 != 0 {
		return nil, fmt.Errorf("quant: TQ1_0: %d bytes is not a multiple of the %d-byte block", len(b), BlockBytesTQ1_0)
	}
	out := make([]float32, 0, len(b)/BlockBytesTQ1_0*QK_K)
	decode := func(packed byte, n int, d float32) float32 {
		q := packed * pow3[n] // uint8 wrap-around is intended
		xi := int((uint16(q) * 3) >> 8)
		return float32(xi-1) * d
	}
	for ; len(b) > 0; b = b[BlockBytesTQ1_0:] {
		d := Float16ToFloat32(binary.LittleEndian.Uint16(b[tq1QS+tq1QH:]))
		for n := 0; n < 5; n++ {
			for m := 0; m < 32; m++ {
				out = append(out, decode(b[m], n, d))
			}
		}
		for n := 0; n < 5; n++ {
			for m := 0; m < 16; m++ {
				out = append(out, decode(b[32+m], n, d))
			}
		}
		for n := 0; n < 4; n++ {
			for j := 0; j < tq1QH; j++ {
				out = append(out, decode(b[tq1QS+j], n, d))
			}
		}
	}
	return out, nil
}

// codeTables map a ternary weight, indexed as uint8(q), to ggml's 2-bit code
// (q+1). Index 1 is for a negative scale: quantizing x = q*d with d < 0 gives
// amax = |d| and round(x/amax) = -q, so the codes flip. Values outside
// {-1,0,1} are clamped to their sign rather than producing garbage codes.
var codeTables = func() (t [2][256]uint8) {
	for i := range 256 {
		q := int8(i)
		var c uint8 = 1
		switch {
		case q > 0:
			c = 2
		case q < 0:
			c = 0
		}
		t[0][i] = c
		t[1][i] = 2 - c
	}
	return t
}()

// ternaryScale reproduces what QuantizeX would derive from x = q*d: the stored
// scale is f16(|d|), or 0 when every q is 0 (amax is then 0, and every code is
// "0" regardless of d). It also picks the code table for d's sign.
func ternaryScale(q *[QK_K]int8, d float32) (h uint16, tbl *[256]uint8) {
	zero := true
	for _, v := range q {
		if v != 0 {
			zero = false
			break
		}
	}
	if zero {
		return 0, &codeTables[0]
	}
	if math.Signbit(float64(d)) {
		return Float32ToFloat16(-d), &codeTables[1]
	}
	return Float32ToFloat16(d), &codeTables[0]
}

// AppendTQ2_0Block appends one TQ2_0 block holding the ternary weights q
// (each -1, 0 or +1; others are clamped to their sign) with scale d. The bytes
// equal QuantizeTQ2_0 of x[i] = float32(q[i])*d whenever d is finite and
// exactly representable in f16, without the float work, for generators that
// already have ternary weights.
func AppendTQ2_0Block(dst []byte, q *[QK_K]int8, d float32) []byte {
	h, t := ternaryScale(q, d)
	var b [BlockBytesTQ2_0]byte
	for j := range 2 {
		// Fixed-size views let the compiler drop every bounds check.
		s0 := (*[32]int8)(q[j*128:])
		s1 := (*[32]int8)(q[j*128+32:])
		s2 := (*[32]int8)(q[j*128+64:])
		s3 := (*[32]int8)(q[j*128+96:])
		o := (*[32]byte)(b[j*32:])
		for m := range 32 {
			o[m] = t[uint8(s0[m])] | t[uint8(s1[m])]<<2 | t[uint8(s2[m])]<<4 | t[uint8(s3[m])]<<6
		}
	}
	binary.LittleEndian.PutUint16(b[tq2QS:], h)
	return append(dst, b[:]...)
}

// AppendTQ1_0Block appends one TQ1_0 block holding the ternary weights q
// (each -1, 0 or +1; others are clamped to their sign) with scale d. The bytes
// equal QuantizeTQ1_0 of x[i] = float32(q[i])*d whenever d is finite and
// exactly representable in f16.
func AppendTQ1_0Block(dst []byte, q *[QK_K]int8, d float32) []byte {
	h, t := ternaryScale(q, d)
	c := func(i int) int { return int(t[uint8(q[i])]) }
	var b [BlockBytesTQ1_0]byte
	for m := range 32 {
		b[m] = packTrits5((((c(m)*3+c(m+32))*3+c(m+64))*3+c(m+96))*3 + c(m+128))
	}
	for m := range 16 {
		i := 160 + m
		b[32+m] = packTrits5((((c(i)*3+c(i+16))*3+c(i+32))*3+c(i+48))*3 + c(i+64))
	}
	for j := range tq1QH {
		i := 240 + j
		b[tq1QS+j] = packTrits5((((c(i)*3+c(i+4))*3+c(i+8))*3 + c(i+12)) * 3)
	}
	binary.LittleEndian.PutUint16(b[tq1QS+tq1QH:], h)
	return append(dst, b[:]...)
}
