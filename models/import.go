package models

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/aria-node/aria/inference/gguf"
	"github.com/aria-node/aria/inference/quant"
	"github.com/aria-node/aria/internal/atomicfile"
)

// Architectures of BitNet GGUFs. Microsoft's official BitNet b1.58 2B-4T file says
// ArchB158; an older upload says Arch25. Both are imported as ArchB158, which aria's
// patched llama.cpp runs with the squared-ReLU FFN the model was trained with.
// ArchBitNet is llama.cpp's 1bitLLM graph (SiLU), kept as it is.
const (
	ArchB158   = "bitnet-b1.58"
	Arch25     = "bitnet-25"
	ArchBitNet = "bitnet"
)

// Metadata keys an import writes into the converted file.
const (
	KeyImportedFrom = "aria.imported_from" // "I2_S"
	KeyImportNote   = "aria.import"        // what the repack did, in words
)

// ErrNotBitNet is returned for an I2_S file whose architecture is not a BitNet one.
var ErrNotBitNet = errors.New("not a BitNet model")

// ErrBadI2S wraps every problem found in I2_S tensor data (a code-3 weight, a NaN,
// infinite, zero or negative scale, a row length that is not a multiple of 256).
var ErrBadI2S = errors.New("invalid I2_S data")

// ImportNote is written into every imported file and shown by `aria model info`.
const ImportNote = "repacked losslessly from bitnet.cpp I2_S to TQ2_0: the same 2-bit codes, reordered inside each byte; TQ2_0 block scale 1.0 and each tensor's exact float32 scale kept as an F32 '.scale' tensor that the bitnet graph multiplies in"

// IsI2S reports whether f has at least one I2_S tensor, i.e. needs Import before
// llama.cpp can run it.
func IsI2S(f *gguf.File) bool {
	for _, t := range f.Tensors {
		if t.Type == gguf.TypeI2_S {
			return true
		}
	}
	return false
}

// OpenForImport decodes the header of the GGUF at path, accepting I2_S tensors.
func OpenForImport(path string) (*gguf.File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	f, err := gguf.DecodeForImport(fh, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// ImportResult describes a finished import.
type ImportResult struct {
	SourceArch string `json:"source_arch"`
	Arch       string `json:"arch"`
	Repacked   int    `json:"repacked_tensors"` // I2_S tensors turned into TQ2_0 + .scale
	InBytes    int64  `json:"in_bytes"`
	OutBytes   int64  `json:"out_bytes"`
}

// Import converts the I2_S BitNet GGUF at src into a TQ2_0 GGUF at dst, written
// atomically (a temporary file in dst's directory, renamed into place only when
// complete): an existing dst is untouched on any error. progress, if set, gets the
// bytes of tensor data done and the total.
func Import(ctx context.Context, src, dst string, progress func(done, total int64)) (ImportResult, error) {
	in, err := os.Open(src)
	if err != nil {
		return ImportResult{}, fmt.Errorf("import: %w", err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return ImportResult{}, fmt.Errorf("import: %w", err)
	}
	f, err := gguf.DecodeForImport(in, st.Size())
	if err != nil {
		return ImportResult{}, fmt.Errorf("import %s: %w", src, err)
	}
	var res ImportResult
	err = atomicfile.Write(dst, 0o644, func(tmp *os.File) (err error) {
		res, err = Convert(ctx, in, f, tmp, progress)
		return err
	})
	if err != nil {
		return ImportResult{}, fmt.Errorf("import %s: %w", src, err)
	}
	res.InBytes = st.Size()
	if st, err := os.Stat(dst); err == nil {
		res.OutBytes = st.Size()
	}
	return res, nil
}

// Convert writes the TQ2_0 form of the I2_S file f (read from r) to w. It checks
// everything it reads: the architecture, every I2_S tensor's shape, codes and scale;
// errors name the tensor.
func Convert(ctx context.Context, r io.ReaderAt, f *gguf.File, w io.Writer, progress func(done, total int64)) (ImportResult, error) {
	srcArch := f.Architecture()
	res := ImportResult{SourceArch: srcArch}
	switch srcArch {
	case ArchB158, Arch25:
		res.Arch = ArchB158
	case ArchBitNet:
		res.Arch = ArchBitNet
	default:
		return res, fmt.Errorf("%w: general.architecture is %q; aria imports I2_S files of %s, %s or %s", ErrNotBitNet, srcArch, ArchB158, Arch25, ArchBitNet)
	}
	if !IsI2S(f) {
		return res, errors.New("the file has no I2_S tensors: nothing to import (load it directly)")
	}

	gw := gguf.NewWriter(w)
	names := map[string]bool{}
	for _, kv := range f.KV {
		names[kv.Key] = true
	}
	for _, kv := range f.KV {
		key, val := kv.Key, kv.Value
		switch {
		case key == "general.architecture":
			val = res.Arch
		case key == "general.file_type":
			val = uint32(37) // LLAMA_FTYPE_MOSTLY_TQ2_0
		case strings.HasPrefix(key, srcArch+"."):
			key = res.Arch + strings.TrimPrefix(key, srcArch)
		case key == KeyImportedFrom || key == KeyImportNote:
			continue
		}
		if err := gw.AddKV(key, val); err != nil {
			return res, err
		}
	}
	extra := []gguf.KV{{Key: KeyImportedFrom, Value: "I2_S"}, {Key: KeyImportNote, Value: ImportNote}}
	if model, _ := f.String("tokenizer.ggml.model"); model == "gpt2" && res.Arch == ArchB158 {
		// Microsoft's file has no pre-tokenizer key; its vocabulary is llama3's, and
		// llama.cpp's default pre-tokenizer would split text differently.
		if !names["tokenizer.ggml.pre"] {
			extra = append(extra, gguf.KV{Key: "tokenizer.ggml.pre", Value: "llama-bpe"})
		}
		if !names["tokenizer.ggml.add_bos_token"] {
			extra = append(extra, gguf.KV{Key: "tokenizer.ggml.add_bos_token", Value: true})
		}
		if !names["tokenizer.ggml.eot_token_id"] {
			if toks, ok := f.Strings("tokenizer.ggml.tokens"); ok {
				for i, t := range toks {
					if t == "<|eot_id|>" {
						extra = append(extra, gguf.KV{Key: "tokenizer.ggml.eot_token_id", Value: uint32(i)})
						break
					}
				}
			}
		}
	}
	for _, kv := range extra {
		if err := gw.AddKV(kv.Key, kv.Value); err != nil {
			return res, err
		}
	}

	var total int64
	for _, t := range f.Tensors {
		total += int64(t.Size())
		if t.Type != gguf.TypeI2_S {
			if err := gw.AddTensor(t.Name, t.Type, t.Dims...); err != nil {
				return res, err
			}
			continue
		}
		if len(t.Dims) != 2 || t.Dims[0]%quant.QK_K != 0 {
			return res, fmt.Errorf("%w: tensor %q: shape %v: ternary rows must be a multiple of %d weights (TQ2_0 blocks)", ErrBadI2S, t.Name, t.Dims, quant.QK_K)
		}
		if !strings.HasSuffix(t.Name, ".weight") {
			return res, fmt.Errorf("%w: tensor %q: an I2_S tensor must be a .weight", ErrBadI2S, t.Name)
		}
		if err := gw.AddTensor(t.Name, gguf.TypeTQ2_0, t.Dims...); err != nil {
			return res, err
		}
		if err := gw.AddTensor(scaleName(t.Name), gguf.TypeF32, 1); err != nil {
			return res, fmt.Errorf("tensor %q: %w", t.Name, err)
		}
	}
	if err := gw.WriteHeader(); err != nil {
		return res, err
	}

	var done int64
	var largest uint64
	for _, t := range f.Tensors {
		largest = max(largest, t.Size())
	}
	buf := make([]byte, min(1<<20, max(4096, largest)))
	for _, t := range f.Tensors {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		sr := f.TensorReader(r, t)
		if t.Type == gguf.TypeI2_S {
			scale, err := repackI2S(ctx, sr, t, gw, buf)
			if err != nil {
				return res, err
			}
			var b [4]byte
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(scale))
			if err := gw.WriteTensorData(scaleName(t.Name), b[:]); err != nil {
				return res, err
			}
			res.Repacked++
		} else {
			for n := int64(t.Size()); n > 0; {
				k := min(n, int64(len(buf)))
				if _, err := io.ReadFull(sr, buf[:k]); err != nil {
					return res, fmt.Errorf("tensor %q: read: %w", t.Name, err)
				}
				if err := gw.WriteTensorData(t.Name, buf[:k]); err != nil {
					return res, err
				}
				n -= k
			}
		}
		done += int64(t.Size())
		if progress != nil {
			progress(done, total)
		}
	}
	return res, gw.Close()
}

func scaleName(weight string) string { return strings.TrimSuffix(weight, ".weight") + ".scale" }

// i2sToTQ2 maps an I2_S byte (weights at shifts 6, 4, 2, 0) to the TQ2_0 byte holding
// the same four weights (at shifts 0, 2, 4, 6). Both use code q for the value q-1.
// i2sBad marks bytes holding a code 3, which I2_S never produces.
var i2sToTQ2, i2sBad = func() (t [256]byte, bad [256]bool) {
	for b := range 256 {
		for k := range 4 {
			q := byte(b>>(6-2*k)) & 3
			t[b] |= q << (2 * k)
			if q == 3 {
				bad[b] = true
			}
		}
	}
	return
}()

// repackI2S streams one I2_S tensor from sr into gw as TQ2_0 with block scale 1.0 and
// returns its float32 scale. The scale sits after the weights, so it is read first.
func repackI2S(ctx context.Context, sr *io.SectionReader, t gguf.TensorInfo, gw *gguf.Writer, buf []byte) (float32, error) {
	n := t.NumElements()
	var sb [4]byte
	if _, err := sr.ReadAt(sb[:], int64(n/4)); err != nil {
		return 0, fmt.Errorf("tensor %q: read scale: %w", t.Name, err)
	}
	scale := math.Float32frombits(binary.LittleEndian.Uint32(sb[:]))
	if math.IsNaN(float64(scale)) || math.IsInf(float64(scale), 0) || scale <= 0 {
		return 0, fmt.Errorf("%w: tensor %q: scale is %v; want a positive finite number", ErrBadI2S, t.Name, scale)
	}
	one := quant.Float32ToFloat16(1)
	const inBlock = quant.QK_K / 4 // I2_S bytes per 256 weights (two 128-weight groups)
	chunk := len(buf) / inBlock / 2 * inBlock
	in := buf[:chunk]
	out := make([]byte, 0, chunk/inBlock*quant.BlockBytesTQ2_0)
	br := bufio.NewReaderSize(io.NewSectionReader(sr, 0, int64(n/4)), 1<<16)
	for off := uint64(0); off < n/4; {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		k := min(uint64(chunk), n/4-off)
		if _, err := io.ReadFull(br, in[:k]); err != nil {
			return 0, fmt.Errorf("tensor %q: read: %w", t.Name, err)
		}
		out = out[:0]
		for b := uint64(0); b < k; b += inBlock {
			blk := in[b : b+inBlock]
			for i, x := range blk {
				if i2sBad[x] {
					return 0, fmt.Errorf("%w: tensor %q: code 3 (not a ternary value) in byte %d of the weights", ErrBadI2S, t.Name, off+b+uint64(i))
				}
				out = append(out, i2sToTQ2[x])
			}
			out = append(out, byte(one), byte(one>>8))
		}
		if err := gw.WriteTensorData(t.Name, out); err != nil {
			return 0, err
		}
		off += k
	}
	return scale, nil
}
