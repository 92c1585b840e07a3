package quant

import (
	"bytes"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func fill(v float32) []float32 {
	x := make([]float32, QK_K)
	for i := range x {
		x[i] = v
	}
	return x
}

// unhex decodes a hex literal that may be split over lines and spaces.
func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Expected bytes below were worked out by hand from quantize_row_tq2_0_ref:
// code = lroundf(x/amax)+1, byte j*32+m of the 64-byte qs holds the codes of
// weights j*128+m+32n for n = 0..3 in bits 2n..2n+1; then d = fp16(amax)
// little-endian.
func TestQuantizeTQ2_0KnownAnswers(t *testing.T) {
	pattern := make([]float32, QK_K)
	for i := range pattern {
		pattern[i] = float32(i%3 - 1) // -1, 0, +1, -1, ...
	}
	tests := []struct {
		name string
		x    []float32
		want string
	}{
		{
			// amax = 0 so id = 0: every code is 1 -> 0b01010101, d = 0.
			name: "zeros",
			x:    fill(0),
			want: strings.Repeat("55", 64) + "0000",
		},
		{
			// code 2 everywhere -> 0b10101010; fp16(1.0) = 0x3C00.
			name: "all +1",
			x:    fill(1),
			want: strings.Repeat("aa", 64) + "003c",
		},
		{
			// code 0 everywhere; amax = 0.5, fp16(0.5) = 0x3800.
			name: "all -0.5",
			x:    fill(-0.5),
			want: strings.Repeat("00", 64) + "0038",
		},
		{
			// Weight i has code i%3. Byte m (first half) packs weights
			// m, m+32, m+64, m+96; since 32%3=2, 64%3=1, 96%3=0:
			//   m%3==0: codes 0,2,1,0 -> 0 | 2<<2 | 1<<4 | 0<<6 = 0x18
			//   m%3==1: codes 1,0,2,1 -> 1 | 0    | 2<<4 | 1<<6 = 0x61
			//   m%3==2: codes 2,1,0,2 -> 2 | 1<<2 | 0    | 2<<6 = 0x86
			// The second half starts at weight 128 (128%3 = 2), so byte 32+m
			// looks like first-half byte m+2: 0x86, 0x18, 0x61, ...
			name: "i%3-1",
			x:    pattern,
			want: strings.Repeat("186186", 10) + "1861" +
				strings.Repeat("861861", 10) + "8618" + "003c",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.want)
			got, err := QuantizeTQ2_0(tt.x)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got\n%x\nwant\n%x", got, want)
			}
			// Dequantizing must give back round(x/amax)*fp16(amax), which for
			// these inputs is x itself.
			back, err := DequantizeTQ2_0(got)
			if err != nil {
				t.Fatal(err)
			}
			for i := range back {
				if back[i] != tt.x[i] {
					t.Fatalf("dequant[%d] = %v, want %v", i, back[i], tt.x[i])
				}
			}
		})
	}
}

// Expected bytes below were worked out by hand from quantize_row_tq1_0_ref.
// Five codes c0..c4 (c0 most significant) form q = ((((c0*3+c1)*3+c2)*3+c3)*3+c4),
// stored as ceil(q*256/243) = (q*256+242)/243. qh bytes hold four codes and a
// trailing zero trit (q*3 before the division).
//
//	all codes 1: q = 121 -> 31218/243 = 128 (0x80); qh: 40*3 = 120 -> 30962/243 = 127 (0x7f)
//	all codes 2: q = 242 -> 62194/243 = 255 (0xff); qh: 80*3 = 240 -> 61682/243 = 253 (0xfd)
//	all codes 0: q = 0   -> 242/243 = 0
func TestQuantizeTQ1_0KnownAnswers(t *testing.T) {
	// x[0] = +1: qs[0] packs weights 0,32,64,96,128 -> codes 2,1,1,1,1:
	//   q = 2*81+27+9+3+1 = 202 -> 51954/243 = 213 (0xd5).
	// x[100] = -0.6 rounds (half away from zero) to -1: weight 100 = 4 + 3*32
	//   so qs[4] packs codes 1,1,1,0,1: q = 81+27+9+0+1 = 118 -> 30450/243 = 125 (0x7d).
	// x[200] = 0.49 rounds to 0: no change.
	// x[255] = -1: weight 255 = 240 + 3 + 3*4 is the 4th code of qh[3]:
	//   codes 1,1,1,0 -> 39, *3 = 117 -> 30194/243 = 124 (0x7c).
	mixed := make([]float32, QK_K)
	mixed[0], mixed[100], mixed[200], mixed[255] = 1, -0.6, 0.49, -1

	tests := []struct {
		name string
		x    []float32
		want string
	}{
		{"zeros", fill(0), strings.Repeat("80", 48) + "7f7f7f7f" + "0000"},
		{"all +2", fill(2), strings.Repeat("ff", 48) + "fdfdfdfd" + "0040"}, // fp16(2) = 0x4000
		{"all -1", fill(-1), strings.Repeat("00", 48) + "00000000" + "003c"},
		{
			"mixed",
			mixed,
			"d5" + "808080" + "7d" + strings.Repeat("80", 43) + "7f7f7f7c" + "003c",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.want)
			got, err := QuantizeTQ1_0(tt.x)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got\n%x\nwant\n%x", got, want)
			}
		})
	}

	back, err := DequantizeTQ1_0(unhex(t, tests[3].want))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range back {
		want := float32(0)
		switch i {
		case 0:
			want = 1
		case 100, 255:
			want = -1
		}
		if v != want {
			t.Fatalf("mixed dequant[%d] = %v, want %v", i, v, want)
		}
	}
}

func randTernary(r *rand.Rand, q *[QK_K]int8) {
	for i := range q {
		q[i] = int8(r.IntN(3)) - 1
	}
}

// randHalfScale returns a random finite, non-zero scale that is exactly
// representable in f16, with a random sign.
func randHalfScale(r *rand.Rand) float32 {
	for {
		h := uint16(r.Uint32())
		f := Float16ToFloat32(h)
		if f != 0 && !math.IsInf(float64(f), 0) && !math.IsNaN(float64(f)) {
			return f
		}
	}
}

func TestAppendMatchesQuantize(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var q [QK_K]int8
	for iter := range 2000 {
		d := randHalfScale(r)
		switch iter % 10 {
		case 0:
			q = [QK_K]int8{} // all zero: ggml stores d = 0 whatever d was
		case 1:
			randTernary(r, &q)
			d = 1
		default:
			randTernary(r, &q)
		}
		x := make([]float32, QK_K)
		for i := range x {
			x[i] = float32(q[i]) * d
		}

		want2, err := QuantizeTQ2_0(x)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendTQ2_0Block(nil, &q, d); !bytes.Equal(got, want2) {
			t.Fatalf("iter %d d=%g: TQ2_0 append\n%x\nquantize\n%x", iter, d, got, want2)
		}
		want1, err := QuantizeTQ1_0(x)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendTQ1_0Block(nil, &q, d); !bytes.Equal(got, want1) {
			t.Fatalf("iter %d d=%g: TQ1_0 append\n%x\nquantize\n%x", iter, d, got, want1)
		}

		// Round trip: with d exact in f16 the dequantized weights are x.
		for name, back := range map[string]func([]byte) ([]float32, error){
			"TQ2_0": DequantizeTQ2_0, "TQ1_0": DequantizeTQ1_0,
		} {
			b := want2
			if name == "TQ1_0" {
				b = want1
			}
			y, err := back(b)
			if err != nil {
				t.Fatal(err)
			}
			for i := range y {
				if y[i] != x[i] {
					t.Fatalf("iter %d %s: dequant[%d] = %v, want %v", iter, name, i, y[i], x[i])
				}
			}
		}
	}
}

// TestRoundTripInexactScale checks that with a scale that is not an f16 value
// the weights come back as q * f16(d), the documented loss.
func TestRoundTripInexactScale(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var q [QK_K]int8
	randTernary(r, &q)
	q[0] = 1
	const d = 0.0123456789
	dh := Float16ToFloat32(Float32ToFloat16(d))
	for name, b := range map[string][]byte{
		"TQ2_0": AppendTQ2_0Block(nil, &q, d),
		"TQ1_0": AppendTQ1_0Block(nil, &q, d),
	} {
		deq := DequantizeTQ2_0
		if name == "TQ1_0" {
			deq = DequantizeTQ1_0
		}
		y, err := deq(b)
		if err != nil {
			t.Fatal(err)
		}
		for i := range y {
			if want := float32(q[i]) * dh; y[i] != want {
				t.Fatalf("%s[%d] = %v, want %v", name, i, y[i], want)
			}
		}
	}
}

// TestQuantizeGeneral checks arbitrary real inputs against the definition
// round(x/amax) * f16(amax), over several blocks.
func TestQuantizeGeneral(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, 4*QK_K)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for name, f := range map[string]struct {
		q func([]float32) ([]byte, error)
		d func([]byte) ([]float32, error)
		n int
	}{
		"TQ2_0": {QuantizeTQ2_0, DequantizeTQ2_0, BlockBytesTQ2_0},
		"TQ1_0": {QuantizeTQ1_0, DequantizeTQ1_0, BlockBytesTQ1_0},
	} {
		b, err := f.q(x)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != 4*f.n {
			t.Fatalf("%s: %d bytes, want %d", name, len(b), 4*f.n)
		}
		y, err := f.d(b)
		if err != nil {
			t.Fatal(err)
		}
		for blk := range 4 {
			xs := x[blk*QK_K : (blk+1)*QK_K]
			var amax float32
			for _, v := range xs {
				amax = max(amax, float32(math.Abs(float64(v))))
			}
			dh := Float16ToFloat32(Float32ToFloat16(amax))
			for i, v := range xs {
				want := float32(math.Round(float64(v*(1/amax)))) * dh
				if got := y[blk*QK_K+i]; got != want {
					t.Fatalf("%s block %d [%d]: x=%v got %v want %v", name, blk, i, v, got, want)
				}
			}
		}
	}
}

func TestQuantizeErrors(t *testing.T) {
	if _, err := QuantizeTQ2_0(make([]float32, 100)); err == nil {
		t.Error("TQ2_0: want error for length 100")
	}
	if _, err := QuantizeTQ1_0(make([]float32, 257)); err == nil {
		t.Error("TQ1_0: want error for length 257")
	}
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(-1))} {
		x := fill(0.5)
		x[17] = bad
		if _, err := QuantizeTQ2_0(x); err == nil || !strings.Contains(err.Error(), "index 17") {
			t.Errorf("TQ2_0 with %v: err = %v", bad, err)
		}
		if _, err := QuantizeTQ1_0(x); err == nil {
			t.Errorf("TQ1_0 with %v: want error", bad)
		}
	}
	if _, err := DequantizeTQ2_0(make([]byte, 65)); err == nil {
		t.Error("DequantizeTQ2_0: want error for 65 bytes")
	}
	if _, err := DequantizeTQ1_0(make([]byte, 55)); err == nil {
		t.Error("DequantizeTQ1_0: want error for 55 bytes")
	}
	if b, err := QuantizeTQ2_0(nil); err != nil || len(b) != 0 {
		t.Errorf("empty input: %x, %v", b, err)
	}
}

// TestAppendClampsOutOfRange documents that values outside {-1,0,1} are
// clamped to their sign instead of corrupting neighbouring codes.
func TestAppendClampsOutOfRange(t *testing.T) {
	var big, unit [QK_K]int8
	for i := range big {
		big[i] = int8([]int{-128, -2, 0, 5, 127}[i%5])
		unit[i] = int8([]int{-1, -1, 0, 1, 1}[i%5])
	}
	if a, b := AppendTQ2_0Block(nil, &big, 1), AppendTQ2_0Block(nil, &unit, 1); !bytes.Equal(a, b) {
		t.Error("TQ2_0: out-of-range values not clamped")
	}
	if a, b := AppendTQ1_0Block(nil, &big, 1), AppendTQ1_0Block(nil, &unit, 1); !bytes.Equal(a, b) {
		t.Error("TQ1_0: out-of-range values not clamped")
	}
}

func TestAppendAppends(t *testing.T) {
	var q [QK_K]int8
	q[3] = 1
	dst := []byte("prefix")
	dst = AppendTQ2_0Block(dst, &q, 1)
	dst = AppendTQ1_0Block(dst, &q, 1)
	if len(dst) != 6+BlockBytesTQ2_0+BlockBytesTQ1_0 || string(dst[:6]) != "prefix" {
		t.Fatalf("bad append result, len %d", len(dst))
	}
}

func BenchmarkAppendTQ2_0Block(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	var q [QK_K]int8
	randTernary(r, &q)
	dst := make([]byte, 0, BlockBytesTQ2_0)
	b.SetBytes(QK_K) // weights per op
	for b.Loop() {
		dst = AppendTQ2_0Block(dst[:0], &q, 0.25)
	}
}

func BenchmarkAppendTQ1_0Block(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	var q [QK_K]int8
	randTernary(r, &q)
	dst := make([]byte, 0, BlockBytesTQ1_0)
	b.SetBytes(QK_K)
	for b.Loop() {
		dst = AppendTQ1_0Block(dst[:0], &q, 0.25)
	}
}

func BenchmarkQuantizeTQ2_0(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 10))
	x := make([]float32, 16*QK_K)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	b.SetBytes(int64(len(x)))
	for b.Loop() {
		if _, err := QuantizeTQ2_0(x); err != nil {
			b.Fatal(err)
		}
	}
}
