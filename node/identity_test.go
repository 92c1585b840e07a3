package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIdentityIsCreatedOnceAndPrivate(t *testing.T) {
	dir := t.TempDir()
	_, id1, err := LoadIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, IdentityFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("identity.key mode %v, want 0600", st.Mode().Perm())
	}
	_, id2, err := LoadIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if id1 != id2 || id1 == "" {
		t.Fatalf("identity changed across loads: %s vs %s", id1, id2)
	}
	if err := os.WriteFile(filepath.Join(dir, IdentityFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadIdentity(dir); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("corrupt identity: err = %v", err)
	}
}

func TestResolveModel(t *testing.T) {
	dir := t.TempDir()
	if _, err := ResolveModel(t.Context(), dir, "no-such-model", nil); err == nil || !strings.Contains(err.Error(), "unknown model") {
		t.Fatalf("unknown name: err = %v", err)
	}
	if _, err := ResolveModel(t.Context(), dir, "/nope/x.gguf", nil); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing path: err = %v", err)
	}
	p, err := ResolveModel(t.Context(), dir, "tiny", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p != filepath.Join(ModelsDir(dir), "aria-tiny-1bit.gguf") {
		t.Fatalf("tiny resolved to %s", p)
	}
	st1, _ := os.Stat(p)
	p2, err := ResolveModel(t.Context(), dir, "aria-tiny-1bit", nil)
	if err != nil || p2 != p {
		t.Fatalf("by model name: %s, %v", p2, err)
	}
	st2, _ := os.Stat(p)
	if !st1.ModTime().Equal(st2.ModTime()) {
		t.Fatal("the demo model was synthesized twice")
	}
}
