package local

import (
	"os"

	"golang.org/x/sys/cpu"
)

// TernaryKernel names the TQ2_0 × Q8_K kernels ggml will use on this machine, for logs
// and `aria bench`. It mirrors the run-time choice in llama.cpp patches 0002 and 0003
// (arch/x86/quants.c): AVX-512 VNNI when the CPU has it (one row, and 2 rows × 4
// columns when a batch holds a multiple of 4 sequences), else AVX2 with 2 × 2 tiles for
// even batches. ARIA_TQ2_0_VNNI=0 and ARIA_TQ2_0_2X2=0 turn each off.
func TernaryKernel() string {
	vnni := cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI && os.Getenv("ARIA_TQ2_0_VNNI") != "0"
	tiles := os.Getenv("ARIA_TQ2_0_2X2") != "0"
	switch {
	case !cpu.X86.HasAVX2:
		return "ggml generic"
	case vnni && tiles:
		return "AVX-512 VNNI, 2x4 tiles"
	case vnni:
		return "AVX-512 VNNI, one row"
	case tiles:
		return "AVX2, 2x2 tiles"
	default:
		return "AVX2, one row"
	}
}
