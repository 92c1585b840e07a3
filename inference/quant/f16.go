package quant

import "math"

// Float32ToFloat16 converts f to IEEE 754 binary16 with round-to-nearest-even,
// reproducing ggml's portable GGML_FP32_TO_FP16 bit for bit: overflow goes to
// ±Inf, underflow to subnormals or ±0, and every NaN becomes the quiet NaN
// 0x7E00 (with f's sign).
//
// It uses the same float arithmetic trick as ggml (scale so that the FPU does
// the rounding) rather than integer rounding, so the result cannot drift from
// ggml's in corner cases. The explicit float32 conversions forbid the compiler
// from fusing the multiply and add into an FMA, which would change rounding.
func Float32ToFloat16(f float32) uint16 {
	const (
		scaleToInf  float32 = 0x1.0p+112
		scaleToZero float32 = 0x1.0p-110
	)
	w := math.Float32bits(f)
	abs := math.Float32frombits(w &^ 0x80000000)
	base := float32(float32(abs*scaleToInf) * scaleToZero)

	shl1w := w + w
	sign := w & 0x80000000
	bias := shl1w & 0xFF000000
	if bias < 0x71000000 {
		bias = 0x71000000
	}

	base = float32(math.Float32frombits((bias>>1)+0x07800000) + base)
	bits := math.Float32bits(base)
	expBits := (bits >> 13) & 0x00007C00
	mantissaBits := bits & 0x00000FFF
	nonsign := expBits + mantissaBits
	if shl1w > 0xFF000000 { // NaN
		nonsign = 0x7E00
	}
	// ggml returns the uint32 expression through a uint16 return type, so
	// truncation here is part of the algorithm, not an accident.
	return uint16(sign>>16 | nonsign)
}

// Float16ToFloat32 converts the IEEE 754 binary16 value h to float32. The
// conversion is exact for every non-NaN input (float32 is a superset of
// binary16); NaN payloads are carried over shifted into the float32 mantissa.
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1F
	mant := uint32(h) & 0x3FF
	switch {
	case exp == 0x1F: // Inf or NaN
		return math.Float32frombits(sign | 0x7F800000 | mant<<13)
	case exp != 0: // normal: rebias exponent from 15 to 127
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	default: // subnormal half: value is mant * 2^-24, normal in float32
		e := uint32(113) // exponent field for 2^-14 before normalising
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3FF)<<13)
	}
}
