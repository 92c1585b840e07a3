// Package reference is a plain float32 forward pass of the BitNet graphs (llama.cpp's
// bitnet with SiLU, Microsoft's bitnet-b1.58 with squared ReLU): slow, for small
// shapes, and written from the model's definition, as the oracle the kernel is checked against.
package reference

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/aria-node/aria/inference/gguf"
	"github.com/aria-node/aria/inference/quant"
)

// Activation is the FFN's gate activation.
type Activation int

const (
	SiLU        Activation = iota // x * sigmoid(x): llama.cpp's bitnet (1bitLLM)
	SquaredReLU                   // max(x, 0)^2: BitNet b1.58 2B-4T
)

func (a Activation) String() string {
	if a == SquaredReLU {
		return "squared ReLU"
	}
	return "SiLU"
}

// ActivationFor returns the activation an architecture was trained with.
func ActivationFor(arch string) (Activation, error) {
	switch arch {
	case "bitnet":
		return SiLU, nil
	case "bitnet-b1.58", "bitnet-25":
		return SquaredReLU, nil
	}
	return 0, fmt.Errorf("reference: architecture %q is not a BitNet graph", arch)
}

// Model holds every weight expanded to float32.
type Model struct {
	Arch                                  string
	Act                                   Activation
	Embd, Layers, FFN, Heads, KVHeads, NV int
	Eps, RopeBase                         float32
	NRot                                  int
	t                                     map[string][]float32
}

// Load reads a BitNet GGUF (F32, F16, TQ1_0, TQ2_0 or I2_S tensors) into memory.
func Load(path string) (*Model, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	f, err := gguf.DecodeForImport(fh, st.Size())
	if err != nil {
		return nil, err
	}
	m := &Model{Arch: f.Architecture(), t: map[string][]float32{}}
	if m.Act, err = ActivationFor(m.Arch); err != nil {
		return nil, err
	}
	u := func(k string) int { v, _ := f.Uint(m.Arch + "." + k); return int(v) }
	m.Embd, m.Layers, m.FFN = u("embedding_length"), u("block_count"), u("feed_forward_length")
	m.Heads, m.KVHeads = u("attention.head_count"), u("attention.head_count_kv")
	if m.KVHeads == 0 {
		m.KVHeads = m.Heads
	}
	if m.Embd == 0 || m.Layers == 0 || m.Heads == 0 || m.Embd%m.Heads != 0 || m.Heads%m.KVHeads != 0 {
		return nil, fmt.Errorf("reference: %s: incomplete or inconsistent hyperparameters", path)
	}
	m.NRot = u("rope.dimension_count")
	if m.NRot == 0 {
		m.NRot = m.Embd / m.Heads
	}
	eps, _ := f.Float(m.Arch + ".attention.layer_norm_rms_epsilon")
	base, ok := f.Float(m.Arch + ".rope.freq_base")
	if !ok {
		base = 10000
	}
	m.Eps, m.RopeBase = float32(eps), float32(base)
	for _, ti := range f.Tensors {
		raw := make([]byte, ti.Size())
		if _, err := io.ReadFull(f.TensorReader(fh, ti), raw); err != nil {
			return nil, fmt.Errorf("reference: tensor %s: %w", ti.Name, err)
		}
		v, err := expand(ti, raw)
		if err != nil {
			return nil, fmt.Errorf("reference: tensor %s: %w", ti.Name, err)
		}
		m.t[ti.Name] = v
	}
	emb, ok := m.t["token_embd.weight"]
	if !ok {
		return nil, fmt.Errorf("reference: %s has no token_embd.weight", path)
	}
	m.NV = len(emb) / m.Embd
	return m, nil
}

// expand decodes tensor data to float32 values in ggml order.
func expand(ti gguf.TensorInfo, b []byte) ([]float32, error) {
	switch ti.Type {
	case gguf.TypeF32:
		out := make([]float32, len(b)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return out, nil
	case gguf.TypeF16:
		out := make([]float32, len(b)/2)
		for i := range out {
			out[i] = quant.Float16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
		return out, nil
	case gguf.TypeTQ2_0:
		return quant.DequantizeTQ2_0(b)
	case gguf.TypeTQ1_0:
		return quant.DequantizeTQ1_0(b)
	case gguf.TypeI2_S:
		// bitnet.cpp: 128-weight groups of 32 bytes, weight j at byte j%32, shift
		// 6-2*(j/32), code q means q-1; then one float32 scale for the tensor.
		n := int(ti.NumElements())
		scale := math.Float32frombits(binary.LittleEndian.Uint32(b[n/4:]))
		out := make([]float32, n)
		for i := range out {
			g, j := i/128, i%128
			q := (b[g*32+j%32] >> (6 - 2*(j/32))) & 3
			out[i] = float32(int(q)-1) * scale
		}
		return out, nil
	}
	return nil, fmt.Errorf("type %s is not supported by the reference", ti.Type)
}

func (m *Model) tensor(name string) []float32 { return m.t[name] }

// matvec computes W·x for a ggml weight of shape {len(x), rows}, then multiplies by the
// tensor's optional .scale.
func (m *Model) matvec(name string, x []float32) []float32 {
	w := m.t[name+".weight"]
	in := len(x)
	rows := len(w) / in
	y := make([]float32, rows)
	for r := range rows {
		row := w[r*in : (r+1)*in]
		var s float32
		for i, v := range row {
			s += v * x[i]
		}
		y[r] = s
	}
	if sc, ok := m.t[name+".scale"]; ok {
		for i := range y {
			y[i] *= sc[0]
		}
	}
	return y
}

func (m *Model) rmsNorm(x []float32, weight string) []float32 {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	k := float32(1 / math.Sqrt(ss/float64(len(x))+float64(m.Eps)))
	w := m.t[weight]
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = v * k * w[i]
	}
	return out
}

// rope rotates one head in place, NEOX style: element i pairs with i+nRot/2.
func (m *Model) rope(h []float32, pos int) {
	half := m.NRot / 2
	for i := range half {
		theta := float64(pos) * math.Pow(float64(m.RopeBase), -2*float64(i)/float64(m.NRot))
		c, s := float32(math.Cos(theta)), float32(math.Sin(theta))
		x0, x1 := h[i], h[i+half]
		h[i], h[i+half] = x0*c-x1*s, x0*s+x1*c
	}
}

// Logits runs the model over tokens from position 0 and returns the logits at every
// position.
func (m *Model) Logits(tokens []int32) ([][]float32, error) {
	hd := m.Embd / m.Heads
	kvDim := hd * m.KVHeads
	emb := m.t["token_embd.weight"]
	head := m.t["output.weight"]
	if head == nil {
		head = emb
	}
	keys := make([][][]float32, m.Layers) // [layer][pos] -> kvDim
	vals := make([][][]float32, m.Layers)
	out := make([][]float32, 0, len(tokens))
	for pos, tok := range tokens {
		if tok < 0 || int(tok) >= m.NV {
			return nil, fmt.Errorf("reference: token %d outside the vocabulary", tok)
		}
		x := append([]float32(nil), emb[int(tok)*m.Embd:(int(tok)+1)*m.Embd]...)
		for l := range m.Layers {
			p := fmt.Sprintf("blk.%d.", l)
			h := m.rmsNorm(x, p+"attn_norm.weight")
			q, k, v := m.matvec(p+"attn_q", h), m.matvec(p+"attn_k", h), m.matvec(p+"attn_v", h)
			for i := 0; i < m.Embd; i += hd {
				m.rope(q[i:i+hd], pos)
			}
			for i := 0; i < kvDim; i += hd {
				m.rope(k[i:i+hd], pos)
			}
			keys[l] = append(keys[l], k)
			vals[l] = append(vals[l], v)
			att := make([]float32, m.Embd)
			scale := 1 / math.Sqrt(float64(hd))
			for hh := range m.Heads {
				kvh := hh / (m.Heads / m.KVHeads)
				qh := q[hh*hd : (hh+1)*hd]
				sc := make([]float64, pos+1)
				mx := math.Inf(-1)
				for t := 0; t <= pos; t++ {
					kh := keys[l][t][kvh*hd : (kvh+1)*hd]
					var s float64
					for i := range qh {
						s += float64(qh[i]) * float64(kh[i])
					}
					sc[t] = s * scale
					mx = math.Max(mx, sc[t])
				}
				var sum float64
				for t := range sc {
					sc[t] = math.Exp(sc[t] - mx)
					sum += sc[t]
				}
				o := att[hh*hd : (hh+1)*hd]
				for t := range sc {
					vh := vals[l][t][kvh*hd : (kvh+1)*hd]
					w := float32(sc[t] / sum)
					for i := range o {
						o[i] += w * vh[i]
					}
				}
			}
			a := m.matvec(p+"attn_output", m.rmsNorm(att, p+"attn_sub_norm.weight"))
			for i := range x {
				x[i] += a[i]
			}
			h = m.rmsNorm(x, p+"ffn_norm.weight")
			g, up := m.matvec(p+"ffn_gate", h), m.matvec(p+"ffn_up", h)
			for i := range g {
				switch m.Act {
				case SquaredReLU:
					r := max(g[i], 0)
					g[i] = r * r * up[i]
				default:
					g[i] = g[i] / (1 + float32(math.Exp(-float64(g[i])))) * up[i]
				}
			}
			d := m.matvec(p+"ffn_down", m.rmsNorm(g, p+"ffn_sub_norm.weight"))
			for i := range x {
				x[i] += d[i]
			}
		}
		h := m.rmsNorm(x, "output_norm.weight")
		logits := make([]float32, m.NV)
		for r := range m.NV {
			row := head[r*m.Embd : (r+1)*m.Embd]
			var s float32
			for i, v := range row {
				s += v * h[i]
			}
			logits[r] = s
		}
		out = append(out, logits)
	}
	return out, nil
}

// WriteExpanded writes the model at src again with every tensor stored as F32 (the
// same values the kernel dequantizes, and the same .scale tensors): the kernel then
// runs the BitNet graph without quantizing activations, so its logits can be held to
// a tight tolerance against Logits.
func WriteExpanded(src string, w io.Writer) error {
	fh, err := os.Open(src)
	if err != nil {
		return err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return err
	}
	f, err := gguf.DecodeForImport(fh, st.Size())
	if err != nil {
		return err
	}
	gw := gguf.NewWriter(w)
	for _, kv := range f.KV {
		if kv.Key == "general.file_type" {
			continue
		}
		if err := gw.AddKV(kv.Key, kv.Value); err != nil {
			return err
		}
	}
	for _, ti := range f.Tensors {
		if ti.Type == gguf.TypeI2_S {
			return fmt.Errorf("reference: %s has I2_S tensors: import it first", src)
		}
		if err := gw.AddTensor(ti.Name, gguf.TypeF32, ti.Dims...); err != nil {
			return err
		}
	}
	if err := gw.WriteHeader(); err != nil {
		return err
	}
	for _, ti := range f.Tensors {
		raw := make([]byte, ti.Size())
		if _, err := io.ReadFull(f.TensorReader(fh, ti), raw); err != nil {
			return err
		}
		v, err := expand(ti, raw)
		if err != nil {
			return err
		}
		b := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		if err := gw.WriteTensorData(ti.Name, b); err != nil {
			return err
		}
	}
	return gw.Close()
}
