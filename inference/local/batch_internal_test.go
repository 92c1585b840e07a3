package local

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/aria-node/aria/inference/llamacpp"
)

// Sequences decoded together (one batch holding the next token of each, as the runner
// and the parallel bench do) must give the greedy tokens each gives decoded alone.
// With an even number of sequences ggml multiplies the TQ2_0 weights two rows by two
// columns at a time (patches/0002), by four columns with AVX-512 VNNI when they come in
// fours (patches/0003); with three, one by one as alone. The tiles must not change a
// bit: the logits of 2 and 4 batched sequences are compared bitwise with those of the
// 3-sequence control at every position. (TestTernaryKernelsMatchGgmlBitwise compares
// all of them with ggml's own kernel.)
//
// (Batched and alone logits are not bit-identical, with 2, 3 and 4 sequences alike:
// a prompt pass over several sequences sums some other op in another order, the last
// bits of the KV cache differ, and the greedy tokens stay the same.)
func TestBatchedDecodeMatchesOneAtATime(t *testing.T) {
	m, err := llamacpp.LoadModel(tinyModel(t), llamacpp.ModelParams{UseMmap: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	const steps = 16
	all := [][]int32{
		{1, 450, 4996, 7354, 1701, 432, 7204},
		{1, 3118, 263, 931, 727, 471, 263},
		{1, 11, 12, 13, 14, 15, 16},
		{1, 2000, 2001, 2002, 2003, 2004, 2005},
	}
	type key struct{ seq, step int }
	decode := func(prompts [][]int32) ([][]int32, map[key][]float32) {
		t.Helper()
		logits := map[key][]float32{}
		toks, err := kernelDecode(context.Background(), m, 1, prompts, steps, nil, func(seq, step int, lg []float32) {
			logits[key{seq, step}] = append([]float32(nil), lg...)
		})
		if err != nil {
			t.Fatal(err)
		}
		return toks, logits
	}
	alone := make([][]int32, len(all))
	for s, p := range all {
		toks, _ := decode([][]int32{p})
		alone[s] = toks[0]
	}
	_, control := decode(all[:3])
	for _, n := range []int{2, 3, 4} {
		t.Run(fmt.Sprintf("%d sequences", n), func(t *testing.T) {
			toks, logits := decode(all[:n])
			for s := range n {
				if fmt.Sprint(toks[s]) != fmt.Sprint(alone[s]) {
					t.Errorf("sequence %d batched: %v; alone: %v", s, toks[s], alone[s])
				}
				if s >= 3 {
					continue
				}
				for step := -1; step < steps; step++ {
					got, want := logits[key{s, step}], control[key{s, step}]
					if len(got) == 0 || len(got) != len(want) {
						t.Fatalf("sequence %d step %d: %d logits, %d in the control", s, step, len(got), len(want))
					}
					if i := firstDifferent(got, want); i >= 0 {
						t.Errorf("sequence %d step %d: logit %d is %v, %v with 3 sequences", s, step, i, got[i], want[i])
						break
					}
				}
			}
		})
	}
}

func firstDifferent(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}
