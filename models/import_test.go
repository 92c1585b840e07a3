package models

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aria-node/aria/inference/gguf"
	"github.com/aria-node/aria/inference/quant"
	"github.com/aria-node/aria/inference/synth"
)

// tinyI2S writes a tiny-shape I2_S file (Microsoft's layout) and returns its bytes.
func tinyI2S(t testing.TB, arch string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := synth.Generate(context.Background(), &buf, synth.Options{Shape: synth.Shapes["tiny"], Type: synth.I2_S, Arch: arch, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decodeI2S is an independent reading of an I2_S tensor as the issue describes it.
func decodeI2S(b []byte, n int) ([]float32, float32) {
	scale := math.Float32frombits(binary.LittleEndian.Uint32(b[n/4:]))
	out := make([]float32, n)
	for i := range n {
		g, j := i/128, i%128
		q := (b[g*32+j%32] >> (6 - 2*(j/32))) & 3
		out[i] = float32(int(q) - 1)
	}
	return out, scale
}

func TestImportIsLossless(t *testing.T) {
	for _, arch := range []string{ArchB158, Arch25} {
		t.Run(arch, func(t *testing.T) {
			src := tinyI2S(t, arch)
			dir := t.TempDir()
			in := filepath.Join(dir, "in.gguf")
			out := filepath.Join(dir, "out.gguf")
			if err := os.WriteFile(in, src, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := gguf.Open(in); err == nil {
				t.Fatal("the strict decoder accepted an I2_S file")
			}
			res, err := Import(context.Background(), in, out, nil)
			if err != nil {
				t.Fatal(err)
			}
			sf, _ := gguf.DecodeForImport(bytes.NewReader(src), int64(len(src)))
			of, err := gguf.Open(out) // strict: what llama.cpp will accept
			if err != nil {
				t.Fatalf("imported file fails validation: %v", err)
			}
			if of.Architecture() != ArchB158 || res.Arch != ArchB158 || res.SourceArch != arch {
				t.Fatalf("arch %q / %+v", of.Architecture(), res)
			}
			if pre, _ := of.String("tokenizer.ggml.pre"); pre != "llama-bpe" {
				t.Errorf("tokenizer.ggml.pre = %q, want llama-bpe", pre)
			}
			if _, ok := of.Uint(ArchB158 + ".embedding_length"); !ok {
				t.Errorf("hyperparameters not renamed to %s.*", ArchB158)
			}
			eot, _ := of.Uint("tokenizer.ggml.eot_token_id")
			toks, _ := of.Strings("tokenizer.ggml.tokens")
			if toks[eot] != "<|eot_id|>" {
				t.Errorf("eot_token_id %d is %q", eot, toks[eot])
			}
			outBytes, _ := os.ReadFile(out)
			n := 0
			for _, st := range sf.Tensors {
				ot, ok := of.Tensor(st.Name)
				if !ok {
					t.Fatalf("tensor %s missing", st.Name)
				}
				sdata := src[sf.DataOffset+int64(st.Offset):][:st.Size()]
				odata := outBytes[of.DataOffset+int64(ot.Offset):][:ot.Size()]
				if st.Type != gguf.TypeI2_S {
					if ot.Type != st.Type || !bytes.Equal(sdata, odata) {
						t.Fatalf("tensor %s changed", st.Name)
					}
					continue
				}
				n++
				want, scale := decodeI2S(sdata, int(st.NumElements()))
				got, err := quant.DequantizeTQ2_0(odata)
				if err != nil || ot.Type != gguf.TypeTQ2_0 {
					t.Fatalf("%s: %v %v", st.Name, ot.Type, err)
				}
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("%s: weight %d is %v after import, %v before", st.Name, i, got[i], want[i])
					}
				}
				sc, ok := of.Tensor(strings.TrimSuffix(st.Name, ".weight") + ".scale")
				if !ok || sc.Type != gguf.TypeF32 {
					t.Fatalf("%s: no F32 .scale tensor", st.Name)
				}
				gotScale := math.Float32frombits(binary.LittleEndian.Uint32(outBytes[of.DataOffset+int64(sc.Offset):]))
				if gotScale != scale {
					t.Fatalf("%s: scale %v, want exactly %v", st.Name, gotScale, scale)
				}
			}
			if n == 0 || n != res.Repacked {
				t.Fatalf("repacked %d tensors, counted %d", res.Repacked, n)
			}
		})
	}
}

// i2sTensor finds the first I2_S tensor and returns its absolute data offset.
func i2sTensor(t *testing.T, b []byte) (gguf.TensorInfo, int64) {
	f, err := gguf.DecodeForImport(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range f.Tensors {
		if ti.Type == gguf.TypeI2_S {
			return ti, f.DataOffset + int64(ti.Offset)
		}
	}
	t.Fatal("no I2_S tensor")
	return gguf.TensorInfo{}, 0
}

func TestImportRejectsBadInput(t *testing.T) {
	good := tinyI2S(t, ArchB158)
	ti, off := i2sTensor(t, good)
	setScale := func(v float32) []byte {
		b := bytes.Clone(good)
		binary.LittleEndian.PutUint32(b[off+int64(ti.NumElements()/4):], math.Float32bits(v))
		return b
	}
	code3 := bytes.Clone(good)
	code3[off+5] |= 0xC0
	var llama bytes.Buffer
	{
		// A non-BitNet I2_S file: same tensors, another architecture.
		f, _ := gguf.DecodeForImport(bytes.NewReader(good), int64(len(good)))
		w := gguf.NewWriter(&llama)
		w.AllowI2S()
		w.AddKV("general.architecture", "llama")
		w.AddTensor("blk.0.attn_q.weight", gguf.TypeI2_S, 256, 4)
		w.WriteHeader()
		w.WriteTensorData("blk.0.attn_q.weight", make([]byte, gguf.I2SSize(1024)))
		w.Close()
		_ = f
	}
	var badRow bytes.Buffer
	{
		w := gguf.NewWriter(&badRow)
		w.AllowI2S()
		w.AddKV("general.architecture", ArchB158)
		w.AddTensor("blk.0.attn_q.weight", gguf.TypeI2_S, 128, 4)
		w.WriteHeader()
		w.WriteTensorData("blk.0.attn_q.weight", make([]byte, gguf.I2SSize(512)))
		w.Close()
	}
	cases := []struct {
		name string
		data []byte
		want string
		is   error
	}{
		{"nan scale", setScale(float32(math.NaN())), "scale is NaN", ErrBadI2S},
		{"zero scale", setScale(0), "scale is 0", ErrBadI2S},
		{"code 3", code3, "code 3", ErrBadI2S},
		{"not bitnet", llama.Bytes(), `"llama"`, ErrNotBitNet},
		{"row not multiple of 256", badRow.Bytes(), "multiple of 256", ErrBadI2S},
		{"truncated", good[:len(good)-1000], "truncated", gguf.ErrTruncated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			in, out := filepath.Join(dir, "in.gguf"), filepath.Join(dir, "out.gguf")
			os.WriteFile(in, c.data, 0o644)
			os.WriteFile(out, []byte("kept"), 0o644) // something already stored
			_, err := Import(context.Background(), in, out, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, c.is) {
				t.Fatalf("err = %v, want %q (%v)", err, c.want, c.is)
			}
			if b, _ := os.ReadFile(out); string(b) != "kept" {
				t.Fatal("a failed import touched the existing file")
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 2 {
				t.Fatalf("temporary files left: %v", ents)
			}
		})
	}
}

func FuzzImport(f *testing.F) {
	// Seed: a small valid file with one I2_S tensor, a norm and the KVs an import
	// rewrites (a whole tiny model is too big for fast fuzzing).
	var small bytes.Buffer
	w := gguf.NewWriter(&small)
	w.AllowI2S()
	w.AddKV("general.architecture", Arch25)
	w.AddKV(Arch25+".block_count", uint32(1))
	w.AddKV("tokenizer.ggml.model", "gpt2")
	w.AddKV("tokenizer.ggml.tokens", []string{"a", "<|eot_id|>"})
	w.AddTensor("blk.0.attn_q.weight", gguf.TypeI2_S, 256, 2)
	w.AddTensor("blk.0.attn_norm.weight", gguf.TypeF32, 4)
	w.WriteHeader()
	d := make([]byte, gguf.I2SSize(512))
	binary.LittleEndian.PutUint32(d[128:], math.Float32bits(0.5))
	w.WriteTensorData("blk.0.attn_q.weight", d)
	w.WriteTensorData("blk.0.attn_norm.weight", make([]byte, 16))
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	f.Add(small.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		gf, err := gguf.DecodeForImport(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if _, err := Convert(context.Background(), bytes.NewReader(b), gf, &out, nil); err != nil {
			return
		}
		if _, err := gguf.Decode(bytes.NewReader(out.Bytes()), int64(out.Len())); err != nil {
			t.Fatalf("Convert produced a file the validator refuses: %v", err)
		}
	})
}

// --model FILE with an I2_S file imports it once into the store and reuses the import.
func TestRunnableImportsOnce(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "ggml-model-i2_s.gguf")
	os.WriteFile(src, tinyI2S(t, ArchB158), 0o644)
	s := Store{Dir: filepath.Join(dir, "models")}
	var progress bytes.Buffer
	p, err := s.Runnable(context.Background(), src, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if p != s.ModelPath("ggml-model-i2_s") || !strings.Contains(progress.String(), "repacked losslessly") {
		t.Fatalf("path %s, progress %q", p, progress.String())
	}
	st1, _ := os.Stat(p)
	progress.Reset()
	if p2, err := s.Runnable(context.Background(), src, &progress); err != nil || p2 != p || progress.Len() != 0 {
		t.Fatalf("second use: %s %v %q", p2, err, progress.String())
	}
	if st2, _ := os.Stat(p); !st2.ModTime().Equal(st1.ModTime()) {
		t.Fatal("imported again")
	}
	if q, err := s.Runnable(context.Background(), p, nil); err != nil || q != p {
		t.Fatalf("a TQ2_0 file: %s %v", q, err)
	}
	list, _ := s.List()
	if len(list) != 1 || list[0].Manifest == nil || !list[0].Manifest.Imported || list[0].Manifest.Source != src {
		t.Fatalf("list %+v", list)
	}
}
