package llamacpp_test

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/aria-node/aria/inference/gguf"
	"github.com/aria-node/aria/inference/llamacpp"
	"github.com/aria-node/aria/inference/quant"
)

// The Go ternary packers must write exactly the bytes ggml's own reference quantizers
// write: llama.cpp's AVX2 kernels read them without any conversion.
func TestTernaryPackingMatchesGGML(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const rows, n = 8, 4 * quant.QK_K
	x := make([]float32, rows*n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	// Exact ternary rows too: the generator's path.
	d := quant.Float16ToFloat32(quant.Float32ToFloat16(0.03125))
	var q [quant.QK_K]int8
	var fromBlocks2, fromBlocks1 []byte
	tern := make([]float32, 0, rows*n)
	for range rows * n / quant.QK_K {
		for i := range q {
			q[i] = int8(rng.IntN(3)) - 1
			tern = append(tern, float32(q[i])*d)
		}
		fromBlocks2 = quant.AppendTQ2_0Block(fromBlocks2, &q, d)
		fromBlocks1 = quant.AppendTQ1_0Block(fromBlocks1, &q, d)
	}
	for _, c := range []struct {
		name  string
		typ   gguf.Type
		goFn  func([]float32) ([]byte, error)
		block []byte
	}{
		{"TQ2_0", gguf.TypeTQ2_0, quant.QuantizeTQ2_0, fromBlocks2},
		{"TQ1_0", gguf.TypeTQ1_0, quant.QuantizeTQ1_0, fromBlocks1},
	} {
		for _, in := range [][]float32{x, tern} {
			want, err := llamacpp.QuantizeRows(int(c.typ), in, n)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.goFn(in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: Go quantizer differs from ggml (first diff at byte %d)", c.name, firstDiff(got, want))
			}
		}
		want, _ := llamacpp.QuantizeRows(int(c.typ), tern, n)
		if !bytes.Equal(c.block, want) {
			t.Fatalf("%s: Append*Block differs from ggml (first diff at byte %d)", c.name, firstDiff(c.block, want))
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
