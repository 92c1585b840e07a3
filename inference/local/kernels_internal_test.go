package local

import (
	"context"
	"encoding/gob"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/cpu"

	"github.com/aria-node/aria/inference/llamacpp"
)

// ternaryLogits decodes the prompts together (4: the 2x4 or 2x2 tiles; 1: one row at
// a time) and returns every logit vector, keyed "sequences/seq/step".
func ternaryLogits(t *testing.T, model string) map[string][]float32 {
	t.Helper()
	m, err := llamacpp.LoadModel(model, llamacpp.ModelParams{UseMmap: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	prompts := [][]int32{
		{1, 450, 4996, 7354, 1701, 432, 7204},
		{1, 3118, 263, 931, 727, 471, 263},
		{1, 11, 12, 13, 14, 15, 16},
		{1, 2000, 2001, 2002, 2003, 2004, 2005},
	}
	out := map[string][]float32{}
	for _, n := range []int{1, 4} {
		_, err := kernelDecode(context.Background(), m, 1, prompts[:n], 8, nil, func(seq, step int, lg []float32) {
			out[fmt.Sprintf("%d/%d/%d", n, seq, step)] = append([]float32(nil), lg...)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// The TQ2_0 kernels picked at run time (patches 0002 and 0003: AVX2 2x2 tiles, AVX-512
// VNNI one row, 2x2 and 2x4 tiles) must not change a bit of the result of ggml's own
// one-row AVX2 kernel. A child process decodes with ARIA_TQ2_0_VNNI=0 ARIA_TQ2_0_2X2=0 (ggml's
// kernel only) and every logit is compared bitwise with this process's.
func TestTernaryKernelsMatchGgmlBitwise(t *testing.T) {
	if out := os.Getenv("ARIA_TEST_LOGITS_OUT"); out != "" {
		f, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		logits := ternaryLogits(t, os.Getenv("ARIA_TEST_LOGITS_MODEL"))
		logits["kernel: "+llamacpp.TernaryKernel()] = nil
		if err := gob.NewEncoder(f).Encode(logits); err != nil {
			t.Fatal(err)
		}
		return
	}
	if os.Getenv("ARIA_TQ2_0_VNNI") == "0" || os.Getenv("ARIA_TQ2_0_2X2") == "0" {
		t.Skip("the kernel switches are set: this process would compare ggml's kernel with itself")
	}
	t.Logf("AVX-512 VNNI: %v (without it the one-row kernel is ggml's own and only the 2x2 tiles differ)",
		cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512BW)
	model := tinyModel(t)
	got := ternaryLogits(t, model)

	dump := filepath.Join(t.TempDir(), "logits.gob")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestTernaryKernelsMatchGgmlBitwise$", "-test.count=1")
	cmd.Env = append(os.Environ(), "ARIA_TQ2_0_VNNI=0", "ARIA_TQ2_0_2X2=0",
		"ARIA_TEST_LOGITS_OUT="+dump, "ARIA_TEST_LOGITS_MODEL="+model)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child decode with ggml's kernel: %v\n%s", err, out)
	}
	f, err := os.Open(dump)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var want map[string][]float32
	if err := gob.NewDecoder(f).Decode(&want); err != nil {
		t.Fatal(err)
	}
	// ggml reports the kernel it ran: the child really used ggml's own.
	if _, ok := want["kernel: AVX2, one row"]; !ok && cpu.X86.HasAVX2 {
		t.Fatalf("the child did not run ggml's one-row AVX2 kernel: %v", keysWithPrefix(want, "kernel: "))
	}
	for k := range want {
		if strings.HasPrefix(k, "kernel: ") {
			delete(want, k)
		}
	}
	t.Logf("this process: %s", llamacpp.TernaryKernel())
	if len(want) != len(got) || len(got) != 1*9+4*9 {
		t.Fatalf("%d logit vectors here, %d with ggml's kernel; want %d", len(got), len(want), 1*9+4*9)
	}
	for k, w := range want {
		g := got[k]
		if len(g) != len(w) || len(g) == 0 {
			t.Fatalf("%s: %d logits, %d with ggml's kernel", k, len(g), len(w))
		}
		if i := firstDifferent(g, w); i >= 0 {
			t.Errorf("%s: logit %d is %v, %v with ggml's kernel", k, i, g[i], w[i])
		}
	}
}

// The kernel names come from ggml's own choice (patch 0003), which reads the switches
// once per process: each combination runs in a child process.
func TestTernaryKernelNamesTheSwitches(t *testing.T) {
	if out := os.Getenv("ARIA_TEST_KERNEL_NAME_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(llamacpp.TernaryKernel()), 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !cpu.X86.HasAVX2 {
		t.Skip("not an AVX2 machine")
	}
	vnni := cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI
	for _, tc := range []struct{ vnniEnv, tilesEnv, want, wantVNNI string }{
		{"0", "0", "AVX2, one row", "AVX2, one row"},
		{"0", "1", "AVX2, 2x2 tiles", "AVX2, 2x2 tiles"},
		{"1", "0", "AVX2, one row", "AVX-512 VNNI, one row"},
		{"", "", "AVX2, 2x2 tiles", "AVX-512 VNNI, 2x4 tiles"},
	} {
		want := tc.want
		if vnni {
			want = tc.wantVNNI
		}
		out := filepath.Join(t.TempDir(), "kernel")
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestTernaryKernelNamesTheSwitches$", "-test.count=1")
		cmd.Env = append(os.Environ(), "ARIA_TQ2_0_VNNI="+tc.vnniEnv, "ARIA_TQ2_0_2X2="+tc.tilesEnv, "ARIA_TEST_KERNEL_NAME_OUT="+out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("child: %v\n%s", err, b)
		}
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("ARIA_TQ2_0_VNNI=%q ARIA_TQ2_0_2X2=%q: %q, want %q", tc.vnniEnv, tc.tilesEnv, got, want)
		}
	}
}

func keysWithPrefix(m map[string][]float32, prefix string) []string {
	var ks []string
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			ks = append(ks, k)
		}
	}
	return ks
}
