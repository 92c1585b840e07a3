package quant

import (
	"math"
	"math/bits"
	"testing"
)

// refFloat32ToFloat16 is an independent integer implementation of IEEE
// round-to-nearest-even binary32 -> binary16, used to cross-check the port of
// ggml's float-arithmetic trick. NaNs map to ggml's canonical 0x7E00.
func refFloat32ToFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xFF
	mant := uint64(b & 0x7FFFFF)
	if exp == 0xFF {
		if mant != 0 {
			return sign | 0x7E00
		}
		return sign | 0x7C00
	}
	if exp == 0 && mant == 0 {
		return sign
	}
	// value = m * 2^e exactly
	m, e := mant, -149
	if exp != 0 {
		m, e = mant|1<<23, exp-150
	}
	E := e + bits.Len64(m) - 1 // floor(log2(value))
	if E > 15 {
		return sign | 0x7C00
	}
	if E < -14 {
		E = -14 // subnormal range: ulp stays 2^-24
	}
	shift := (E - 10) - e // bits of m below one half-precision ulp
	var k uint64
	switch {
	case shift <= 0:
		k = m << -shift
	case shift > 40:
		k = 0
	default:
		k = m >> shift
		rem := m & (1<<shift - 1)
		half := uint64(1) << (shift - 1)
		if rem > half || (rem == half && k&1 == 1) {
			k++
		}
	}
	// k counts ulps of size 2^(E-10); with E >= -14 the encoding is
	// (E+14)<<10 + k, which also handles a carry into the next binade and
	// the subnormal/normal boundary.
	enc := uint64(E+14)<<10 + k
	if E == -14 {
		enc = k
	}
	if enc >= 0x7C00 {
		return sign | 0x7C00
	}
	return sign | uint16(enc)
}

// ggmlFloat16ToFloat32 is a direct port of ggml_compute_fp16_to_fp32, used to
// check that the integer implementation agrees with ggml.
func ggmlFloat16ToFloat32(h uint16) float32 {
	w := uint32(h) << 16
	sign := w & 0x80000000
	twoW := w + w
	const expOffset = uint32(0xE0) << 23
	const expScale float32 = 0x1.0p-112
	normalized := float32(math.Float32frombits((twoW>>4)+expOffset) * expScale)
	const magicMask = uint32(126) << 23
	denormalized := float32(math.Float32frombits((twoW>>17)|magicMask) - 0.5)
	r := math.Float32bits(normalized)
	if twoW < 1<<27 {
		r = math.Float32bits(denormalized)
	}
	return math.Float32frombits(sign | r)
}

func isNaN16(h uint16) bool { return h&0x7C00 == 0x7C00 && h&0x3FF != 0 }

func TestFloat16RoundTripExhaustive(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		f := Float16ToFloat32(h)
		if isNaN16(h) {
			if !math.IsNaN(float64(f)) {
				t.Fatalf("%#04x: got %v, want NaN", h, f)
			}
			if got, want := Float32ToFloat16(f), h&0x8000|0x7E00; got != want {
				t.Fatalf("NaN %#04x: back to %#04x, want canonical %#04x", h, got, want)
			}
			continue
		}
		if g := ggmlFloat16ToFloat32(h); math.Float32bits(g) != math.Float32bits(f) {
			t.Fatalf("%#04x: Float16ToFloat32 = %#08x, ggml = %#08x", h, math.Float32bits(f), math.Float32bits(g))
		}
		if got := Float32ToFloat16(f); got != h {
			t.Fatalf("%#04x -> %v -> %#04x", h, f, got)
		}
	}
}

// TestFloat32ToFloat16Midpoints checks rounding at every decision point: the
// exact midpoint between each pair of adjacent halves and its float32
// neighbours on both sides.
func TestFloat32ToFloat16Midpoints(t *testing.T) {
	for i := range 0x7C00 { // every finite positive half and its successor
		lo := float64(Float16ToFloat32(uint16(i)))
		hi := float64(Float16ToFloat32(uint16(i + 1))) // 0x7C00 is +Inf
		if i == 0x7BFF {
			hi = 65536 // where the next half would be; midpoint 65520 rounds to Inf
		}
		mid := float32((lo + hi) / 2) // exact: needs at most 12 significant bits
		for _, f := range []float32{
			mid,
			math.Nextafter32(mid, 0),
			math.Nextafter32(mid, float32(math.Inf(1))),
		} {
			for _, v := range []float32{f, -f} {
				if got, want := Float32ToFloat16(v), refFloat32ToFloat16(v); got != want {
					t.Fatalf("%g (%#08x): got %#04x, want %#04x", v, math.Float32bits(v), got, want)
				}
			}
		}
	}
}

// TestFloat32ToFloat16Sweep compares against the reference on a stride
// through all 2^32 bit patterns (a prime stride hits every exponent and a
// spread of mantissas); the full sweep is too slow for every test run.
func TestFloat32ToFloat16Sweep(t *testing.T) {
	stride := uint64(251)
	if testing.Short() {
		stride = 65521
	}
	for b := uint64(0); b < 1<<32; b += stride {
		f := math.Float32frombits(uint32(b))
		if got, want := Float32ToFloat16(f), refFloat32ToFloat16(f); got != want {
			t.Fatalf("%g (%#08x): got %#04x, want %#04x", f, b, got, want)
		}
	}
}

func TestFloat32ToFloat16Cases(t *testing.T) {
	inf := float32(math.Inf(1))
	tests := []struct {
		name string
		in   float32
		want uint16
	}{
		{"zero", 0, 0x0000},
		{"negative zero", float32(math.Copysign(0, -1)), 0x8000},
		{"one", 1, 0x3C00},
		{"minus two", -2, 0xC000},
		{"max half", 65504, 0x7BFF},
		{"just below overflow midpoint", math.Nextafter32(65520, 0), 0x7BFF},
		{"overflow midpoint rounds to inf", 65520, 0x7C00},
		{"large", 1e10, 0x7C00},
		{"inf", inf, 0x7C00},
		{"minus inf", -inf, 0xFC00},
		{"nan", float32(math.NaN()), 0x7E00},
		// 1 + 2^-11 is halfway between 1 and 1+2^-10: ties to even mantissa (1).
		{"tie to even down", 1 + 0x1p-11, 0x3C00},
		// 1 + 3*2^-11 is halfway between 1+2^-10 (odd) and 1+2^-9 (even).
		{"tie to even up", 1 + 3*0x1p-11, 0x3C02},
		{"above tie rounds up", math.Nextafter32(1+0x1p-11, 2), 0x3C01},
		{"smallest subnormal", 0x1p-24, 0x0001},
		{"half of smallest subnormal ties to zero", 0x1p-25, 0x0000},
		{"just above half subnormal", math.Nextafter32(0x1p-25, 1), 0x0001},
		{"1.5 subnormal ulps ties to 2", 3 * 0x1p-25, 0x0002},
		{"largest subnormal", 1023 * 0x1p-24, 0x03FF},
		{"rounds up into normal", 1023.5 * 0x1p-24, 0x0400},
		{"smallest normal", 0x1p-14, 0x0400},
		{"float32 subnormal", math.Float32frombits(1), 0x0000},
		{"pi", math.Pi, 0x4248},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Float32ToFloat16(tt.in); got != tt.want {
				t.Errorf("Float32ToFloat16(%g) = %#04x, want %#04x", tt.in, got, tt.want)
			}
		})
	}
}
