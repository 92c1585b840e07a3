// Package quant owns the byte layouts of ggml's ternary tensor types (TQ1_0,
// TQ2_0) and the IEEE half-precision conversion ggml uses for block scales.
//
// Everything here is meant to be byte-identical to ggml's reference C code
// (quantize_row_tq{1,2}_0_ref, dequantize_row_tq{1,2}_0 in ggml-quants.c and
// ggml_compute_fp32_to_fp16 in ggml-impl.h), so tensors produced in Go load
// and compute exactly as if llama.cpp's own quantizer had made them.
package quant
