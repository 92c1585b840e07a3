package synth

import (
	"bytes"
	"context"
	"testing"

	"github.com/aria-node/aria/inference/gguf"
)

func generate(t *testing.T, o Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Generate(context.Background(), &buf, o); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGenerateIsDeterministicAndValid(t *testing.T) {
	for _, typ := range []Type{TQ2_0, TQ1_0} {
		o := Options{Shape: Shapes["tiny"], Type: typ, Seed: 3}
		a, b := generate(t, o), generate(t, o)
		if !bytes.Equal(a, b) {
			t.Fatalf("%s: same seed, different files", typ)
		}
		o.Seed = 4
		if bytes.Equal(a, generate(t, o)) {
			t.Fatalf("%s: different seeds, same file", typ)
		}
		f, err := gguf.Decode(bytes.NewReader(a), int64(len(a)))
		if err != nil {
			t.Fatalf("%s: generated file does not validate: %v", typ, err)
		}
		sh := Shapes["tiny"]
		if want := 2 + 11*sh.Layers; len(f.Tensors) != want {
			t.Fatalf("%d tensors, want %d", len(f.Tensors), want)
		}
		if got := f.TypeCounts(true)[0]; got.Type.String() != map[Type]string{TQ2_0: "TQ2_0", TQ1_0: "TQ1_0"}[typ] || got.Count != 7*sh.Layers {
			t.Fatalf("weight matrices: %+v", got)
		}
		if v, _ := f.Value("aria.synthetic"); v != true {
			t.Fatal("not marked synthetic")
		}
		if p := f.ParameterCount(); p != uint64(sh.params()) {
			t.Fatalf("parameters %d, shape says %d", p, sh.params())
		}
	}
}

func TestShapesValidate(t *testing.T) {
	for name, s := range Shapes {
		if err := s.validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	bad := Shapes["tiny"]
	bad.Embd = 300
	if err := Generate(context.Background(), &bytes.Buffer{}, Options{Shape: bad, Type: TQ2_0}); err == nil {
		t.Fatal("accepted an embedding size that is not a multiple of 256")
	}
	if err := Generate(context.Background(), &bytes.Buffer{}, Options{Shape: Shapes["tiny"], Type: "q4_0"}); err == nil {
		t.Fatal("accepted an unknown type")
	}
}
