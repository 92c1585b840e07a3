package models

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aria-node/aria/inference/gguf"
)

// hub is a loopback HTTP server addressed as Hugging Face is: /OWNER/REPO/resolve/main/FILE
// answers with a redirect carrying X-Linked-Etag and X-Linked-Size, and the
// redirect's target serves the bytes (with Range support unless noRange).
type hub struct {
	srv   *httptest.Server
	mu    sync.Mutex
	files map[string][]byte // FILE -> content
	etag  map[string]string // FILE -> advertised sha256 (default: the real one)

	noRange  bool
	cutAfter int64 // >0: the next GET of a file is cut after this many bytes
	ranges   []string
	gets     int
}

func newHub(t testing.TB) *hub {
	h := &hub{files: map[string][]byte{}, etag: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/{owner}/{repo}/resolve/main/{file...}", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		b, ok := h.files[r.PathValue("file")]
		tag := h.etag[r.PathValue("file")]
		h.mu.Unlock()
		if !ok {
			http.Error(w, "Entry not found", http.StatusNotFound)
			return
		}
		if tag == "" {
			sum := sha256.Sum256(b)
			tag = hex.EncodeToString(sum[:])
		}
		w.Header().Set("X-Linked-Etag", `"`+tag+`"`)
		w.Header().Set("X-Linked-Size", fmt.Sprint(len(b)))
		http.Redirect(w, r, "/_cdn/x/y/z/"+r.PathValue("file"), http.StatusFound)
	})
	mux.HandleFunc("/_cdn/x/y/z/{file...}", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		b, ok := h.files[r.PathValue("file")]
		cut := h.cutAfter
		if r.Method == http.MethodGet {
			h.gets++
			h.ranges = append(h.ranges, r.Header.Get("Range"))
			h.cutAfter = 0
		}
		noRange := h.noRange
		h.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		if noRange {
			r.Header.Del("Range")
		}
		if cut > 0 && r.Method == http.MethodGet && r.Header.Get("Range") == "" {
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			w.WriteHeader(http.StatusOK)
			w.Write(b[:cut])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the connection drops mid-body
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
	})
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hub) put(file string, b []byte) {
	h.mu.Lock()
	h.files[file] = b
	h.mu.Unlock()
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

var (
	i2sOnce sync.Once
	i2sFile []byte
)

func tinyI2SCached(t *testing.T) []byte {
	i2sOnce.Do(func() { i2sFile = tinyI2S(t, ArchB158) })
	return i2sFile
}

func pullOpts(h *hub) PullOptions {
	return PullOptions{Endpoint: h.srv.URL, HTTP: h.srv.Client()}
}

func TestPullCatalogueNameFromHub(t *testing.T) {
	h := newHub(t)
	data := tinyI2SCached(t)
	h.put("ggml-model-i2_s.gguf", data)
	s := Store{Dir: t.TempDir()}
	var last Progress
	o := pullOpts(h)
	o.Progress = func(p Progress) {
		if p.Phase == "download" {
			last = p
		}
	}
	m, err := s.Pull(context.Background(), "bitnet-b1.58-2b-4t", o)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "bitnet-b1.58-2b-4t" || !m.Imported || !m.Verified || m.SHA256 != sha(data) || m.Via != "hub" {
		t.Fatalf("manifest %+v", m)
	}
	if last.Done != int64(len(data)) || last.Total != int64(len(data)) {
		t.Fatalf("last progress %+v, want %d bytes", last, len(data))
	}
	f, err := gguf.Open(s.ModelPath(m.Name))
	if err != nil || f.Architecture() != ArchB158 {
		t.Fatalf("stored model: %v", err)
	}
	if b, _ := os.ReadFile(s.BlobPath(m.SHA256)); !bytes.Equal(b, data) {
		t.Fatal("blob differs from the hub's file")
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Dir, ".partial")); len(ents) != 0 {
		t.Fatalf("partial files left: %v", ents)
	}
	// A second pull finds it and downloads nothing.
	gets := h.gets
	if _, err := s.Pull(context.Background(), "bitnet-b1.58-2b-4t", pullOpts(h)); err != nil || h.gets != gets {
		t.Fatalf("second pull: %v, %d new GETs", err, h.gets-gets)
	}
	list, err := s.List()
	if err != nil || len(list) != 1 || list[0].Manifest == nil || list[0].Manifest.SHA256 != m.SHA256 {
		t.Fatalf("list %+v %v", list, err)
	}
	if err := s.Remove(m.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.BlobPath(m.SHA256)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("blob kept after rm")
	}
	if err := s.Remove(m.Name); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second rm: %v", err)
	}
}

func TestPullResumesInterruptedTransferInTheSameRun(t *testing.T) {
	h := newHub(t)
	data := tinyI2SCached(t)
	h.put("m.gguf", data)
	h.cutAfter = int64(len(data) / 3)
	s := Store{Dir: t.TempDir()}
	m, err := s.Pull(context.Background(), "hf://o/r/m.gguf", pullOpts(h))
	if err != nil {
		t.Fatal(err)
	}
	if m.SHA256 != sha(data) || m.Name != "m" {
		t.Fatalf("manifest %+v", m)
	}
	want := fmt.Sprintf("bytes=%d-", len(data)/3)
	if len(h.ranges) != 2 || h.ranges[0] != "" || h.ranges[1] != want {
		t.Fatalf("requests' Range headers %q, want [\"\" %q]", h.ranges, want)
	}
}

func TestPullResumesOnTheNextRun(t *testing.T) {
	h := newHub(t)
	data := tinyI2SCached(t)
	h.put("m.gguf", data)
	s := Store{Dir: t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	o := pullOpts(h)
	o.Progress = func(p Progress) {
		if p.Phase == "download" && p.Done > 0 {
			cancel() // the user presses ^C once bytes have arrived
		}
	}
	if _, err := s.Pull(ctx, "hf://o/r/m.gguf", o); err == nil {
		t.Fatal("cancelled pull succeeded")
	}
	st, err := os.Stat(s.PartialPath("sha256-" + sha(data)))
	if err != nil || st.Size() == 0 || st.Size() >= int64(len(data)) {
		t.Fatalf("partial file: %v %v", st, err)
	}
	m, err := s.Pull(context.Background(), "hf://o/r/m.gguf", pullOpts(h))
	if err != nil || m.SHA256 != sha(data) {
		t.Fatalf("resumed pull: %+v %v", m, err)
	}
	if last := h.ranges[len(h.ranges)-1]; last != fmt.Sprintf("bytes=%d-", st.Size()) {
		t.Fatalf("resume asked for %q, had %d bytes", last, st.Size())
	}
}

func TestPullFromAServerWithoutRange(t *testing.T) {
	h := newHub(t)
	data := tinyI2SCached(t)
	h.put("m.gguf", data)
	h.noRange = true
	s := Store{Dir: t.TempDir()}
	partial := s.PartialPath("sha256-" + sha(data))
	os.MkdirAll(filepath.Dir(partial), 0o755)
	os.WriteFile(partial, data[:1000], 0o644)
	m, err := s.Pull(context.Background(), "hf://o/r/m.gguf", pullOpts(h))
	if err != nil || m.SHA256 != sha(data) {
		t.Fatalf("%+v %v", m, err)
	}
}

func TestPullRejectsWrongDigest(t *testing.T) {
	h := newHub(t)
	data := tinyI2SCached(t)
	h.put("m.gguf", data)
	h.etag["m.gguf"] = strings.Repeat("ab", 32)
	s := Store{Dir: t.TempDir()}
	os.WriteFile(s.ModelPath("m"), []byte("already stored"), 0o644)
	_, err := s.Pull(context.Background(), "hf://o/r/m.gguf", pullOpts(h))
	if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), sha(data)) {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(s.ModelPath("m")); string(b) != "already stored" {
		t.Fatal("the stored model was touched")
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Dir, ".partial")); len(ents) != 0 {
		t.Fatalf("wrong bytes kept: %v", ents)
	}
	// A digest given by the user that the hub contradicts stops before downloading.
	h.etag["m.gguf"] = ""
	o := pullOpts(h)
	o.SHA256 = strings.Repeat("cd", 32)
	gets := h.gets
	if _, err := s.Pull(context.Background(), "hf://o/r/m.gguf", o); !errors.Is(err, ErrDigestMismatch) || h.gets != gets {
		t.Fatalf("err = %v, %d GETs", err, h.gets-gets)
	}
}

func TestPullNotFoundAndUnknownName(t *testing.T) {
	h := newHub(t)
	s := Store{Dir: t.TempDir()}
	if _, err := s.Pull(context.Background(), "hf://o/r/missing.gguf", pullOpts(h)); !errors.Is(err, ErrHubNotFound) || !strings.Contains(err.Error(), "404") {
		t.Fatalf("404: %v", err)
	}
	if _, err := s.Pull(context.Background(), "no-such-model", pullOpts(h)); !errors.Is(err, ErrUnknownModel) || !strings.Contains(err.Error(), "bitnet-b1.58-2b-4t") {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := s.Pull(context.Background(), "hf://only-owner", pullOpts(h)); !errors.Is(err, ErrUnknownModel) {
		t.Fatalf("bad hf ref: %v", err)
	}
}

// TestPullOntoAFullDisk pulls onto a real tmpfs smaller than the model: a clear error,
// the partial download kept, a stored model untouched; after the tmpfs grows the next
// pull resumes.
func TestPullOntoAFullDisk(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	data := tinyI2SCached(t)
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	h := newHub(t)
	h.put("m.gguf", data)
	s := Store{Dir: dir}
	os.WriteFile(s.ModelPath("keep"), []byte("a model already stored"), 0o644)
	o := pullOpts(h)
	o.Attempts = 1
	_, err := s.Pull(context.Background(), "hf://o/r/m.gguf", o)
	if err == nil || !strings.Contains(err.Error(), "no space left on device") || !strings.Contains(err.Error(), "kept for resume") {
		t.Fatalf("err = %v", err)
	}
	st, err := os.Stat(s.PartialPath("sha256-" + sha(data)))
	if err != nil || st.Size() == 0 {
		t.Fatalf("partial: %v", err)
	}
	if b, _ := os.ReadFile(s.ModelPath("keep")); string(b) != "a model already stored" {
		t.Fatal("stored model lost")
	}
	if out, err := exec.Command("mount", "-o", "remount,size=64m", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v %s", err, out)
	}
	m, err := s.Pull(context.Background(), "hf://o/r/m.gguf", pullOpts(h))
	if err != nil || m.SHA256 != sha(data) {
		t.Fatalf("after growing: %+v %v", m, err)
	}
	if last := h.ranges[len(h.ranges)-1]; !strings.HasPrefix(last, "bytes=") {
		t.Fatalf("the second pull did not resume: Range %q", last)
	}
}

func TestParseRef(t *testing.T) {
	for in, want := range map[string]Ref{
		"bitnet-b1.58-2b-4t":            {"bitnet-b1.58-2b-4t", "E/microsoft/bitnet-b1.58-2B-4T-gguf/resolve/main/ggml-model-i2_s.gguf"},
		"hf://a/b/dir/x y.gguf":         {"x-y", "E/a/b/resolve/main/dir/x y.gguf"},
		"https://host/p/model.gguf?x=1": {"model", "https://host/p/model.gguf?x=1"},
	} {
		got, err := ParseRef(in, "E")
		if err != nil || got != want {
			t.Errorf("%q: %+v %v, want %+v", in, got, err, want)
		}
	}
	_ = io.Discard
}
