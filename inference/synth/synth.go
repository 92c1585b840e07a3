// Package synth generates BitNet-architecture GGUF models with random ternary weights:
// the project's stand-in for real BitNet checkpoints, which no reachable registry ships.
// The weights are meaningless but the tensors, shapes, quantisation and tokenizer are
// what llama.cpp runs for a real model, so speed and behaviour are measured for real.
package synth

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"sort"

	"github.com/aria-node/aria/inference/gguf"
	"github.com/aria-node/aria/inference/quant"
	"github.com/aria-node/aria/inference/vocab"
	"github.com/aria-node/aria/internal/atomicfile"
)

// Shape is a model's dimensions.
type Shape struct {
	Name    string
	Embd    int // hidden size (multiple of 256: ternary rows are 256-element blocks)
	Layers  int
	FFN     int // feed-forward size (multiple of 256)
	Heads   int
	KVHeads int
	Vocab   int
	Context int // trained context length written to the metadata
}

// Shapes are the named shapes. 2b has BitNet b1.58 2B-4T's dimensions; 700m those of
// the 1bitLLM bitnet_b1_58-large family; tiny is the fast test fixture.
var Shapes = map[string]Shape{
	"tiny": {Name: "tiny", Embd: 256, Layers: 6, FFN: 768, Heads: 4, KVHeads: 2, Vocab: 8192, Context: 2048},
	"700m": {Name: "700m", Embd: 1536, Layers: 24, FFN: 4096, Heads: 16, KVHeads: 16, Vocab: 32000, Context: 4096},
	"2b":   {Name: "2b", Embd: 2560, Layers: 30, FFN: 6912, Heads: 20, KVHeads: 5, Vocab: 128256, Context: 4096},
}

// ShapeNames lists the shapes, smallest first.
func ShapeNames() []string {
	names := make([]string, 0, len(Shapes))
	for n := range Shapes {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return Shapes[names[i]].params() < Shapes[names[j]].params() })
	return names
}

func (s Shape) params() int64 {
	kv := s.Embd / s.Heads * s.KVHeads
	perLayer := int64(2*s.Embd*s.Embd+2*s.Embd*kv) + int64(3*s.Embd*s.FFN) + int64(3*s.Embd+s.FFN)
	return int64(s.Layers)*perLayer + int64(s.Vocab*s.Embd) + int64(s.Embd)
}

func (s Shape) validate() error {
	switch {
	case s.Embd <= 0 || s.Embd%quant.QK_K != 0:
		return fmt.Errorf("embedding size %d must be a positive multiple of %d", s.Embd, quant.QK_K)
	case s.FFN <= 0 || s.FFN%quant.QK_K != 0:
		return fmt.Errorf("feed-forward size %d must be a positive multiple of %d", s.FFN, quant.QK_K)
	case s.Heads <= 0 || s.Embd%s.Heads != 0:
		return fmt.Errorf("%d heads do not divide embedding size %d", s.Heads, s.Embd)
	case s.KVHeads <= 0 || s.Heads%s.KVHeads != 0:
		return fmt.Errorf("%d KV heads do not divide %d heads", s.KVHeads, s.Heads)
	case s.Layers <= 0 || s.Vocab < 512 || s.Context <= 0:
		return errors.New("layers, vocabulary (>= 512) and context must be positive")
	}
	return nil
}

// Type is the ternary quantisation of the weight matrices.
type Type string

const (
	TQ2_0 Type = "tq2_0" // 2.0625 bits per weight, fastest on AVX2
	TQ1_0 Type = "tq1_0" // 1.6875 bits per weight, smallest
	// I2_S is bitnet.cpp's layout, as in Microsoft's official BitNet b1.58 GGUFs:
	// 2 bits per weight in 128-weight groups and one float32 scale per tensor. ggml
	// cannot run it; aria imports it (models.Import). The file looks like Microsoft's:
	// architecture bitnet-b1.58 (or bitnet-25), no tokenizer.ggml.pre, llama3 special
	// token texts.
	I2_S Type = "i2_s"
)

// Architectures Generate can write. ArchBitNet is llama.cpp's 1bitLLM graph (SiLU FFN);
// ArchBitNetB158 is Microsoft's BitNet b1.58 2B-4T graph (squared-ReLU FFN, run by
// aria's patched llama.cpp); ArchBitNet25 is an older name of it whose files carry an
// untied F16 output head.
const (
	ArchBitNet     = "bitnet"
	ArchBitNetB158 = "bitnet-b1.58"
	ArchBitNet25   = "bitnet-25"
)

// Llama3 special token texts, used by the I2_S (Microsoft-style) files.
const (
	BeginOfText = "<|begin_of_text|>"
	EndOfText   = "<|end_of_text|>"
	EOTID       = "<|eot_id|>"
)

func (t Type) ggml() (gguf.Type, uint32, error) {
	switch t {
	case TQ2_0:
		return gguf.TypeTQ2_0, 37, nil // LLAMA_FTYPE_MOSTLY_TQ2_0
	case TQ1_0:
		return gguf.TypeTQ1_0, 36, nil // LLAMA_FTYPE_MOSTLY_TQ1_0
	case I2_S:
		return gguf.TypeI2_S, 40, nil // bitnet.cpp's LLAMA_FTYPE_MOSTLY_I2_S
	}
	return 0, 0, fmt.Errorf("unknown type %q (want tq2_0, tq1_0 or i2_s)", string(t))
}

// Options configures Generate.
type Options struct {
	Shape Shape
	Type  Type
	Seed  uint64
	// Arch is the architecture written: ArchBitNet (the default for TQ types),
	// ArchBitNetB158 (the default for I2_S) or ArchBitNet25. The b1.58 architectures
	// get random norm weights, so that a reference forward pass notices a norm that is
	// applied in the wrong place.
	Arch string
	// EOGOnly makes every logit zero except those of two end-of-generation tokens,
	// which are opposite, so greedy decoding ends at once: a fixture for
	// end-of-generation handling.
	EOGOnly bool
	// Progress, if set, is called after each tensor with bytes written so far and total.
	Progress func(done, total int64)
}

// ChatTemplate is the ChatML template written into every synthetic model.
const ChatTemplate = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

type tensor struct {
	name string
	typ  gguf.Type
	dims []uint64
	fill func(w *gguf.Writer, rng *rand.Rand) error
}

// Generate writes a model to w.
func Generate(ctx context.Context, w io.Writer, o Options) error {
	s := o.Shape
	if err := s.validate(); err != nil {
		return fmt.Errorf("shape %s: %w", s.Name, err)
	}
	wt, ftype, err := o.Type.ggml()
	if err != nil {
		return err
	}
	arch := o.Arch
	switch {
	case arch == "" && o.Type == I2_S:
		arch = ArchBitNetB158
	case arch == "":
		arch = ArchBitNet
	case arch != ArchBitNet && arch != ArchBitNetB158 && arch != ArchBitNet25:
		return fmt.Errorf("unknown architecture %q (want %s, %s or %s)", arch, ArchBitNet, ArchBitNetB158, ArchBitNet25)
	}
	microsoft := o.Type == I2_S
	if microsoft && arch == ArchBitNet {
		return fmt.Errorf("I2_S files are %s or %s models, not %s", ArchBitNetB158, ArchBitNet25, ArchBitNet)
	}
	v, err := vocab.Generate(s.Vocab)
	if err != nil {
		return fmt.Errorf("vocabulary: %w", err)
	}
	if microsoft {
		// Microsoft's file carries llama3's vocabulary; give the specials its texts.
		v.Tokens[v.BOS], v.Tokens[v.BOS+1], v.Tokens[v.EOS] = BeginOfText, EndOfText, EOTID
		v.EOS = v.BOS + 1
	}
	gw := gguf.NewWriter(w)
	if microsoft {
		gw.AllowI2S()
	}
	name := "aria-" + s.Name + "-1bit"
	kvs := []gguf.KV{
		{Key: "general.architecture", Value: arch},
		{Key: "general.name", Value: name},
		{Key: "general.description", Value: "Synthetic BitNet b1.58-architecture model generated by aria: random ternary weights, untrained. Its output is meaningless text."},
		{Key: "general.file_type", Value: ftype},
		{Key: "general.quantization_version", Value: uint32(2)},
		{Key: "aria.synthetic", Value: true},
		{Key: "aria.shape", Value: s.Name},
		{Key: "aria.seed", Value: o.Seed},
		{Key: arch + ".context_length", Value: uint32(s.Context)},
		{Key: arch + ".embedding_length", Value: uint32(s.Embd)},
		{Key: arch + ".block_count", Value: uint32(s.Layers)},
		{Key: arch + ".feed_forward_length", Value: uint32(s.FFN)},
		{Key: arch + ".attention.head_count", Value: uint32(s.Heads)},
		{Key: arch + ".attention.head_count_kv", Value: uint32(s.KVHeads)},
		{Key: arch + ".attention.layer_norm_rms_epsilon", Value: float32(1e-5)},
		{Key: arch + ".rope.freq_base", Value: float32(500000)},
		{Key: arch + ".rope.dimension_count", Value: uint32(s.Embd / s.Heads)},
		{Key: arch + ".vocab_size", Value: uint32(s.Vocab)},
		{Key: "tokenizer.ggml.model", Value: "gpt2"},
	}
	if !microsoft { // Microsoft's files have no pre-tokenizer key (it means llama3's)
		kvs = append(kvs, gguf.KV{Key: "tokenizer.ggml.pre", Value: "gpt-2"})
	}
	kvs = append(kvs,
		gguf.KV{Key: "tokenizer.ggml.tokens", Value: v.Tokens},
		gguf.KV{Key: "tokenizer.ggml.token_type", Value: v.Types},
		gguf.KV{Key: "tokenizer.ggml.merges", Value: v.Merges},
		gguf.KV{Key: "tokenizer.ggml.bos_token_id", Value: uint32(v.BOS)},
		gguf.KV{Key: "tokenizer.ggml.eos_token_id", Value: uint32(v.EOS)},
	)
	if !microsoft {
		kvs = append(kvs,
			gguf.KV{Key: "tokenizer.ggml.eot_token_id", Value: uint32(v.EOT)},
			gguf.KV{Key: "tokenizer.ggml.padding_token_id", Value: uint32(v.PAD)},
			gguf.KV{Key: "tokenizer.ggml.add_bos_token", Value: false},
			gguf.KV{Key: "tokenizer.ggml.add_eos_token", Value: false},
			gguf.KV{Key: "tokenizer.chat_template", Value: ChatTemplate},
		)
	}
	for _, kv := range kvs {
		if err := gw.AddKV(kv.Key, kv.Value); err != nil {
			return err
		}
	}

	kvDim := s.Embd / s.Heads * s.KVHeads
	var ts []tensor
	add := func(name string, typ gguf.Type, fill func(*gguf.Writer, *rand.Rand) error, dims ...uint64) {
		ts = append(ts, tensor{name, typ, dims, fill})
	}
	ternary := func(name string, in, out int) {
		add(name, wt, func(w *gguf.Writer, rng *rand.Rand) error { return writeTernary(ctx, w, name, wt, in, out, rng) }, uint64(in), uint64(out))
	}
	norm := func(name string, n int) {
		if arch == ArchBitNet {
			add(name, gguf.TypeF32, func(w *gguf.Writer, _ *rand.Rand) error { return writeOnes(w, name, n) }, uint64(n))
			return
		}
		add(name, gguf.TypeF32, func(w *gguf.Writer, rng *rand.Rand) error { return writeRandomNorm(w, name, n, rng) }, uint64(n))
	}
	specials := []int32{v.BOS, v.EOT}
	add("token_embd.weight", gguf.TypeF16, func(w *gguf.Writer, rng *rand.Rand) error {
		return writeEmbedding(ctx, w, "token_embd.weight", s.Embd, s.Vocab, specials, o.EOGOnly, rng)
	}, uint64(s.Embd), uint64(s.Vocab))
	if arch == ArchBitNet25 {
		add("output.weight", gguf.TypeF16, func(w *gguf.Writer, rng *rand.Rand) error {
			return writeEmbedding(ctx, w, "output.weight", s.Embd, s.Vocab, specials, false, rng)
		}, uint64(s.Embd), uint64(s.Vocab))
	}
	if o.EOGOnly {
		// The output norm keeps only dimension 0 of the final hidden state, where
		// ordinary token rows are zero and the two end-of-generation rows are ±1.
		add("output_norm.weight", gguf.TypeF32, func(w *gguf.Writer, _ *rand.Rand) error {
			return writeOneHot(w, "output_norm.weight", s.Embd)
		}, uint64(s.Embd))
	} else {
		norm("output_norm.weight", s.Embd)
	}
	for i := range s.Layers {
		p := fmt.Sprintf("blk.%d.", i)
		norm(p+"attn_norm.weight", s.Embd)
		ternary(p+"attn_q.weight", s.Embd, s.Embd)
		ternary(p+"attn_k.weight", s.Embd, kvDim)
		ternary(p+"attn_v.weight", s.Embd, kvDim)
		ternary(p+"attn_output.weight", s.Embd, s.Embd)
		norm(p+"attn_sub_norm.weight", s.Embd)
		norm(p+"ffn_norm.weight", s.Embd)
		ternary(p+"ffn_gate.weight", s.Embd, s.FFN)
		ternary(p+"ffn_up.weight", s.Embd, s.FFN)
		ternary(p+"ffn_down.weight", s.FFN, s.Embd)
		norm(p+"ffn_sub_norm.weight", s.FFN)
	}
	var total int64
	for _, t := range ts {
		if err := gw.AddTensor(t.name, t.typ, t.dims...); err != nil {
			return err
		}
		total += int64(tensorBytes(t))
	}
	if err := gw.WriteHeader(); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0xa5a5a5a5deadbeef))
	var done int64
	for _, t := range ts {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := t.fill(gw, rng); err != nil {
			return fmt.Errorf("tensor %s: %w", t.name, err)
		}
		done += int64(tensorBytes(t))
		if o.Progress != nil {
			o.Progress(done, total)
		}
	}
	return gw.Close()
}

func tensorBytes(t tensor) uint64 {
	if t.typ == gguf.TypeI2_S {
		return gguf.TensorInfo{Type: t.typ, Dims: t.dims}.Size()
	}
	n := uint64(1)
	for _, d := range t.dims[1:] {
		n *= d
	}
	row, _ := gguf.RowSize(t.typ, t.dims[0])
	return n * row
}

// writeTernary writes out rows of in ternary weights, uniform over {-1, 0, 1}, with a
// per-tensor scale chosen so a unit-RMS input gives unit-RMS outputs.
func writeTernary(ctx context.Context, w *gguf.Writer, name string, typ gguf.Type, in, out int, rng *rand.Rand) error {
	if typ == gguf.TypeI2_S {
		return writeI2S(ctx, w, name, in, out, rng)
	}
	d := float32(1 / math.Sqrt(float64(in)*2/3))
	d = quant.Float16ToFloat32(quant.Float32ToFloat16(d))
	var q [quant.QK_K]int8
	blocksPerRow := in / quant.QK_K
	const rowsPerChunk = 64
	buf := make([]byte, 0, rowsPerChunk*blocksPerRow*quant.BlockBytesTQ2_0)
	for r := 0; r < out; r += rowsPerChunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		buf = buf[:0]
		for range min(rowsPerChunk, out-r) * blocksPerRow {
			for i := 0; i < quant.QK_K; i += 8 {
				x := rng.Uint64()
				for j := range 8 {
					// (byte * 3) >> 8 maps a uniform byte to {0,1,2} almost uniformly.
					q[i+j] = int8((uint32(byte(x>>(8*j)))*3)>>8) - 1
				}
			}
			if typ == gguf.TypeTQ2_0 {
				buf = quant.AppendTQ2_0Block(buf, &q, d)
			} else {
				buf = quant.AppendTQ1_0Block(buf, &q, d)
			}
		}
		if err := w.WriteTensorData(name, buf); err != nil {
			return err
		}
	}
	return nil
}

// writeEmbedding writes the f16 token embedding, which BitNet ties to the output layer.
// Special tokens get zero rows: their logit is 0 while ordinary tokens' logits have a
// standard deviation of about 3, so random weights practically never end a generation
// early. With eogOnly, dimension 0 of every row is zero except for the two
// end-of-generation tokens (+1 and -1); with the one-hot output norm only that
// dimension reaches the logits, so one of the two always wins.
func writeEmbedding(ctx context.Context, w *gguf.Writer, name string, embd, nVocab int, specials []int32, eogOnly bool, rng *rand.Rand) error {
	sigma := 3 / math.Sqrt(float64(embd))
	isSpecial := map[int]bool{}
	for _, s := range specials {
		isSpecial[int(s)] = true
	}
	row := make([]float32, embd)
	buf := make([]byte, 0, 2*embd*256)
	for tok := range nVocab {
		if tok%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if isSpecial[tok] && !eogOnly {
			clear(row)
		} else {
			for i := range row {
				row[i] = float32(rng.NormFloat64() * sigma)
			}
		}
		if eogOnly {
			switch tok {
			case int(specials[0]):
				row[0] = 1
			case int(specials[1]):
				row[0] = -1
			default:
				row[0] = 0
			}
		}
		for _, x := range row {
			h := quant.Float32ToFloat16(x)
			buf = append(buf, byte(h), byte(h>>8))
		}
		if len(buf)+2*embd > cap(buf) {
			if err := w.WriteTensorData(name, buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		return w.WriteTensorData(name, buf)
	}
	return nil
}

// writeI2S writes out rows of in ternary weights in bitnet.cpp's I2_S layout: each
// 128-weight group is 32 bytes, weight j of a group in byte j%32 at bit shift
// 6-2*(j/32), codes 0/1/2 for -1/0/+1; then the tensor's float32 scale (full
// precision, deliberately not a float16 value) and 28 zero bytes.
func writeI2S(ctx context.Context, w *gguf.Writer, name string, in, out int, rng *rand.Rand) error {
	scale := float32(1/math.Sqrt(float64(in)*2/3)) * (1 + float32(rng.Float64())/7)
	const rowsPerChunk = 64
	rowBytes := in / 4
	buf := make([]byte, rowsPerChunk*rowBytes)
	for r := 0; r < out; r += rowsPerChunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk := buf[:min(rowsPerChunk, out-r)*rowBytes]
		clear(chunk)
		for g := 0; g < len(chunk)/32; g++ {
			grp := chunk[g*32 : g*32+32]
			for j := 0; j < gguf.I2SGroup; j += 8 {
				x := rng.Uint64()
				for k := range 8 {
					code := byte((uint32(byte(x>>(8*k))) * 3) >> 8) // 0, 1, 2
					e := j + k
					grp[e%32] |= code << (6 - 2*(e/32))
				}
			}
		}
		if err := w.WriteTensorData(name, chunk); err != nil {
			return err
		}
	}
	tail := make([]byte, 32)
	bits := math.Float32bits(scale)
	tail[0], tail[1], tail[2], tail[3] = byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24)
	return w.WriteTensorData(name, tail)
}

// writeRandomNorm writes n norm weights drawn uniformly from [0.5, 1.5).
func writeRandomNorm(w *gguf.Writer, name string, n int, rng *rand.Rand) error {
	buf := make([]byte, 4*n)
	for i := range n {
		bits := math.Float32bits(0.5 + float32(rng.Float64()))
		buf[4*i], buf[4*i+1], buf[4*i+2], buf[4*i+3] = byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24)
	}
	return w.WriteTensorData(name, buf)
}

func writeOneHot(w *gguf.Writer, name string, n int) error {
	buf := make([]byte, 4*n)
	bits := math.Float32bits(1)
	buf[0], buf[1], buf[2], buf[3] = byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24)
	return w.WriteTensorData(name, buf)
}

func writeOnes(w *gguf.Writer, name string, n int) error {
	buf := make([]byte, 4*n)
	bits := math.Float32bits(1)
	for i := range n {
		buf[4*i] = byte(bits)
		buf[4*i+1] = byte(bits >> 8)
		buf[4*i+2] = byte(bits >> 16)
		buf[4*i+3] = byte(bits >> 24)
	}
	return w.WriteTensorData(name, buf)
}

// WriteFile generates a model into path atomically (a temporary file renamed into place).
func WriteFile(ctx context.Context, path string, o Options) error {
	return atomicfile.Write(path, 0o644, func(f *os.File) error {
		bw := bufio.NewWriterSize(f, 1<<20)
		if err := Generate(ctx, bw, o); err != nil {
			return err
		}
		return bw.Flush()
	})
}
