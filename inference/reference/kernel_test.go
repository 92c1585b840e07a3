package reference_test

import (
	"bufio"
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/aria-node/aria/inference/gguf"
	"github.com/aria-node/aria/inference/llamacpp"
	"github.com/aria-node/aria/inference/reference"
	"github.com/aria-node/aria/inference/synth"
	"github.com/aria-node/aria/models"
)

// Tolerances of the kernel against the reference, over every logit at every position.
// "graph": the kernel runs the file with its weights expanded to F32, so only float
// rounding differs (the KV cache is F16 in llama.cpp). "served": the kernel runs the
// ternary file as a node would, quantizing activations to 8 bits for the ternary dot
// products, which costs a few percent.
const (
	graphMaxAbs = 0.05
	graphRelRMS = 0.005
	servedMax   = 1.5
	servedRel   = 0.06
	// Running the reference with the other activation must be at least this far off:
	// the check can tell squared ReLU from SiLU.
	wrongActRel = 0.40
)

func prompts(nv int) [][]int32 {
	rng := rand.New(rand.NewPCG(3, 4))
	var out [][]int32
	for _, n := range []int{4, 11, 19} {
		p := make([]int32, n)
		for i := range p {
			p[i] = int32(rng.IntN(nv - 8))
		}
		out = append(out, p)
	}
	return out
}

func kernelLogits(t *testing.T, path string, toks []int32) [][]float32 {
	t.Helper()
	m, err := llamacpp.LoadModel(path, llamacpp.ModelParams{UseMmap: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c, err := llamacpp.NewContext(m, llamacpp.ContextParams{NCtx: 128, NBatch: 64, NSeqMax: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, err := llamacpp.NewBatch(len(toks))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i, tok := range toks {
		b.Add(tok, i, 0, true)
	}
	if err := c.Decode(b); err != nil {
		t.Fatal(err)
	}
	out := make([][]float32, len(toks))
	for i := range toks {
		out[i] = append([]float32(nil), c.Logits(i)...)
	}
	return out
}

// compare returns the largest absolute difference and the RMS of the differences
// relative to the RMS of the reference logits.
func compare(got, want [][]float32) (maxAbs, rel float64) {
	var se, sw float64
	for i := range want {
		for j := range want[i] {
			d := float64(got[i][j] - want[i][j])
			maxAbs = math.Max(maxAbs, math.Abs(d))
			se += d * d
			sw += float64(want[i][j]) * float64(want[i][j])
		}
	}
	return maxAbs, math.Sqrt(se / sw)
}

func must(v uint64, _ bool) uint64 { return v }

func writeSynth(t *testing.T, path string, o synth.Options) {
	t.Helper()
	o.Shape = synth.Shapes["tiny"]
	if err := synth.WriteFile(context.Background(), path, o); err != nil {
		t.Fatal(err)
	}
}

func writeExpanded(t *testing.T, src, dst string) {
	t.Helper()
	fh, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(fh)
	if err := reference.WriteExpanded(src, bw); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	fh.Close()
}

// TestKernelMatchesReference checks llama.cpp's logits against the pure-Go forward
// pass, for both activations and for imported I2_S files (whose reference reads the
// original I2_S bytes, not the import's output).
func TestKernelMatchesReference(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	dir := t.TempDir()
	type model struct {
		name    string
		refPath string // what the reference reads
		runPath string // what the kernel runs
		act     reference.Activation
	}
	var cases []model
	add := func(name string, o synth.Options) {
		src := filepath.Join(dir, name+".src.gguf")
		writeSynth(t, src, o)
		run := src
		if o.Type == synth.I2_S {
			run = filepath.Join(dir, name+".gguf")
			if _, err := models.Import(context.Background(), src, run, nil); err != nil {
				t.Fatal(err)
			}
		}
		act := reference.SquaredReLU
		if o.Arch == synth.ArchBitNet {
			act = reference.SiLU
		}
		cases = append(cases, model{name, src, run, act})
	}
	add("bitnet-silu-tq2", synth.Options{Type: synth.TQ2_0, Arch: synth.ArchBitNet, Seed: 1})
	add("b158-tq2", synth.Options{Type: synth.TQ2_0, Arch: synth.ArchBitNetB158, Seed: 2})
	add("b158-tq1", synth.Options{Type: synth.TQ1_0, Arch: synth.ArchBitNetB158, Seed: 3})
	add("b158-i2s-imported", synth.Options{Type: synth.I2_S, Arch: synth.ArchBitNetB158, Seed: 4})
	add("bitnet25-i2s-imported", synth.Options{Type: synth.I2_S, Arch: synth.ArchBitNet25, Seed: 5})

	t.Run("imported-special-tokens", func(t *testing.T) {
		// The 2B-4T chat format relies on BOS being added and on <|eot_id|> and EOS
		// ending generation; Microsoft's file does not say so, the import does.
		path := cases[3].runPath
		f, err := gguf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		eot, _ := f.Uint("tokenizer.ggml.eot_token_id")
		eos, _ := f.Uint("tokenizer.ggml.eos_token_id")
		m, err := llamacpp.LoadModel(path, llamacpp.ModelParams{VocabOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if !m.AddBOS() || !m.IsEOG(int32(eot)) || !m.IsEOG(int32(eos)) {
			t.Fatalf("add BOS %v, eot %d is EOG %v, eos %d is EOG %v", m.AddBOS(), eot, m.IsEOG(int32(eot)), eos, m.IsEOG(int32(eos)))
		}
		toks, err := m.Tokenize("User: Hi<|eot_id|>Assistant: ", true, true)
		if err != nil || len(toks) < 3 || toks[0] != int32(must(f.Uint("tokenizer.ggml.bos_token_id"))) {
			t.Fatalf("tokens %v %v", toks, err)
		}
		found := false
		for _, tk := range toks {
			found = found || tk == int32(eot)
		}
		if !found {
			t.Fatalf("<|eot_id|> is not one token in %v", toks)
		}
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ref, err := reference.Load(c.refPath)
			if err != nil {
				t.Fatal(err)
			}
			if ref.Act != c.act {
				t.Fatalf("reference picked %v for %s", ref.Act, ref.Arch)
			}
			expanded := filepath.Join(dir, c.name+".f32.gguf")
			writeExpanded(t, c.runPath, expanded)
			for i, p := range prompts(ref.NV) {
				want, err := ref.Logits(p)
				if err != nil {
					t.Fatal(err)
				}
				gm, gr := compare(kernelLogits(t, expanded, p), want)
				sm, sr := compare(kernelLogits(t, c.runPath, p), want)
				t.Logf("prompt %d (%d tokens): graph max %.4f rel %.4f%%; served max %.3f rel %.2f%%", i, len(p), gm, 100*gr, sm, 100*sr)
				if gm > graphMaxAbs || gr > graphRelRMS {
					t.Errorf("prompt %d: kernel graph differs from the reference: max %.4f (bound %v), rel RMS %.4f (bound %v)", i, gm, graphMaxAbs, gr, graphRelRMS)
				}
				if sm > servedMax || sr > servedRel {
					t.Errorf("prompt %d: served kernel differs from the reference: max %.3f (bound %v), rel RMS %.3f (bound %v)", i, sm, servedMax, sr, servedRel)
				}
				if i == 0 {
					other := *ref
					other.Act = 1 - ref.Act
					wrong, err := other.Logits(p)
					if err != nil {
						t.Fatal(err)
					}
					_, wr := compare(kernelLogits(t, expanded, p), wrong)
					t.Logf("with the wrong activation (%v) the reference is %.1f%% off", other.Act, 100*wr)
					if wr < wrongActRel {
						t.Errorf("the kernel is as close to the %v reference (%.1f%% off) as to the %v one: the check cannot tell the activations apart", other.Act, 100*wr, ref.Act)
					}
				}
			}
		})
	}
}
