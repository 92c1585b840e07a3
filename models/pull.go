package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aria-node/aria/inference/gguf"
)

// CatalogEntry maps a model name to its file on the hub.
type CatalogEntry struct {
	Name        string
	Repo        string // OWNER/REPO
	File        string
	Description string
}

// Catalog is the built-in list of models `aria model pull NAME` knows.
var Catalog = []CatalogEntry{
	{Name: "bitnet-b1.58-2b-4t", Repo: "microsoft/bitnet-b1.58-2B-4T-gguf", File: "ggml-model-i2_s.gguf",
		Description: "Microsoft BitNet b1.58 2B-4T, official I2_S GGUF (1.19 GB), imported to TQ2_0"},
}

// DefaultHub is the hub used when ARIA_HF_ENDPOINT is not set.
const DefaultHub = "https://huggingface.co"

// HubEndpoint returns $ARIA_HF_ENDPOINT, else DefaultHub. Files are addressed as on
// Hugging Face: ENDPOINT/OWNER/REPO/resolve/main/FILE.
func HubEndpoint() string {
	if e := os.Getenv("ARIA_HF_ENDPOINT"); e != "" {
		return strings.TrimRight(e, "/")
	}
	return DefaultHub
}

// Errors callers tell apart.
var (
	ErrUnknownModel   = errors.New("unknown model")
	ErrHubNotFound    = errors.New("not found on the hub")
	ErrDigestMismatch = errors.New("sha256 mismatch")
)

// Ref is a resolved pull reference.
type Ref struct {
	Name string // the store name
	URL  string
}

// ParseRef resolves a catalogue name, hf://OWNER/REPO/FILE or an http(s) URL.
func ParseRef(ref, endpoint string) (Ref, error) {
	for _, c := range Catalog {
		if strings.EqualFold(ref, c.Name) {
			return Ref{Name: c.Name, URL: endpoint + "/" + c.Repo + "/resolve/main/" + c.File}, nil
		}
	}
	if rest, ok := strings.CutPrefix(ref, "hf://"); ok {
		parts := strings.SplitN(rest, "/", 3)
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
			return Ref{}, fmt.Errorf("%w %q: want hf://OWNER/REPO/FILE", ErrUnknownModel, ref)
		}
		return Ref{Name: nameFromFile(parts[2]), URL: endpoint + "/" + parts[0] + "/" + parts[1] + "/resolve/main/" + parts[2]}, nil
	}
	if u, err := url.Parse(ref); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return Ref{Name: nameFromFile(u.Path), URL: ref}, nil
	}
	names := make([]string, len(Catalog))
	for i, c := range Catalog {
		names[i] = c.Name
	}
	return Ref{}, fmt.Errorf("%w %q: not in the catalogue (%s), not hf://OWNER/REPO/FILE, not an http(s) URL", ErrUnknownModel, ref, strings.Join(names, ", "))
}

func nameFromFile(p string) string {
	n := strings.TrimSuffix(path.Base(p), ".gguf")
	var b strings.Builder
	for _, c := range n {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' {
			b.WriteRune(c)
		} else {
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), ".-_")
	if s == "" {
		s = "model"
	}
	return s
}

// Progress is reported while a pull runs.
type Progress struct {
	Phase       string // "download", "peer", "verify", "import"
	Done, Total int64  // bytes; Total is 0 when unknown
	BytesPerSec float64
	ETA         time.Duration // 0 when unknown
}

// PeerFetcher fetches a file by digest from other nodes (see PeerClient).
type PeerFetcher interface {
	// Fetch writes the file with the digest (size bytes, 0 if unknown) to the partial
	// file at path, resuming from its current length, and returns the peer that
	// served it. The caller verifies the digest again.
	Fetch(ctx context.Context, sha string, size int64, path string, progress func(done, total int64)) (from string, err error)
}

// PullOptions configures Pull.
type PullOptions struct {
	Name     string // store name; default from the reference
	SHA256   string // expected digest; default from the hub's X-Linked-Etag/ETag
	Endpoint string // default HubEndpoint()
	HTTP     *http.Client
	Peers    PeerFetcher // asked first when the digest is known; nil: hub only
	Progress func(Progress)
	Log      *slog.Logger
	// Attempts bounds the hub requests of one pull (each resumes where the last
	// stopped); default 4.
	Attempts int
}

// Pull downloads a model into the store (from peers when it can, else the hub),
// verifies its sha256, and imports it when it is an I2_S file. A download that fails
// part-way is kept in .partial/ and resumed by the next pull; a model already stored
// is only replaced once the new one is complete.
func (s Store) Pull(ctx context.Context, ref string, o PullOptions) (Manifest, error) {
	if o.Endpoint == "" {
		o.Endpoint = HubEndpoint()
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, ResponseHeaderTimeout: 60 * time.Second}}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Attempts <= 0 {
		o.Attempts = 4
	}
	if o.Progress == nil {
		o.Progress = func(Progress) {}
	}
	r, err := ParseRef(ref, o.Endpoint)
	if err != nil {
		return Manifest{}, err
	}
	if o.Name != "" {
		r.Name = o.Name
	}
	if err := CheckName(r.Name); err != nil {
		return Manifest{}, err
	}
	want := strings.ToLower(strings.TrimPrefix(o.SHA256, "sha256:"))
	if want != "" && !isSHA256(want) {
		return Manifest{}, fmt.Errorf("--sha256 %q is not 64 hex digits", o.SHA256)
	}

	size := int64(0)
	head, herr := s.head(ctx, o.HTTP, r.URL)
	switch {
	case herr == nil:
		size = head.size
		if head.sha != "" && want != "" && head.sha != want {
			return Manifest{}, fmt.Errorf("%w: the hub says %s has sha256 %s, but %s was asked for", ErrDigestMismatch, r.URL, head.sha, want)
		}
		if want == "" {
			want = head.sha
		}
	case errors.Is(herr, ErrHubNotFound):
		return Manifest{}, herr
	case want == "" || o.Peers == nil:
		return Manifest{}, herr
	default:
		o.Log.Warn("hub unreachable; trying peers", "url", r.URL, "err", herr)
	}

	if m, ok, _ := s.Manifest(r.Name); ok && want != "" && m.SHA256 == want {
		if _, err := os.Stat(s.ModelPath(r.Name)); err == nil {
			return m, nil // already here
		}
	}

	key := "sha256-" + want
	if want == "" {
		sum := sha256.Sum256([]byte(r.URL))
		key = "url-" + hex.EncodeToString(sum[:8])
	}
	partial := s.PartialPath(key)
	if err := os.MkdirAll(filepath.Dir(partial), 0o755); err != nil {
		return Manifest{}, err
	}
	via, source := "hub", r.URL
	var got string
	if want != "" {
		if _, err := os.Stat(s.BlobPath(want)); err == nil {
			got, via = want, "store"
		}
	}
	if got == "" && want != "" && o.Peers != nil {
		from, err := o.Peers.Fetch(ctx, want, size, partial, func(done, total int64) {
			o.Progress(Progress{Phase: "peer", Done: done, Total: total})
		})
		if err == nil {
			if got, err = fileSHA256(partial); err == nil && got != want {
				err = fmt.Errorf("%w from peer %s", ErrDigestMismatch, from)
				os.Remove(partial)
			}
		}
		if err != nil {
			got = ""
			if ctx.Err() != nil {
				return Manifest{}, ctx.Err()
			}
			o.Log.Info("no peer could serve the model; using the hub", "sha256", want, "err", err)
			if herr != nil {
				return Manifest{}, fmt.Errorf("pull %s: peers: %v; hub: %w", ref, err, herr)
			}
		} else {
			via, source = "peer", "peer "+from
		}
	}
	if got == "" {
		for attempt := 1; ; attempt++ {
			got, err = s.download(ctx, o.HTTP, r.URL, partial, size, o.Progress)
			if err == nil || ctx.Err() != nil || attempt >= o.Attempts || !errors.Is(err, errInterrupted) {
				break
			}
			o.Log.Warn("download interrupted; resuming", "url", r.URL, "attempt", attempt, "err", err)
			time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
		}
		if err != nil {
			return Manifest{}, fmt.Errorf("pull %s: %w", ref, err)
		}
		if want != "" && got != want {
			os.Remove(partial)
			return Manifest{}, fmt.Errorf("pull %s: %w: the download has sha256 %s, want %s; the file was removed", ref, ErrDigestMismatch, got, want)
		}
	}
	blob := s.BlobPath(got)
	if via != "store" {
		if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
			return Manifest{}, err
		}
		if err := os.Rename(partial, blob); err != nil {
			return Manifest{}, err
		}
	}
	st, err := os.Stat(blob)
	if err != nil {
		return Manifest{}, err
	}
	m := Manifest{Name: r.Name, File: r.Name + ".gguf", Source: source, SHA256: got, Size: st.Size(),
		Blob: filepath.Join("blobs", "sha256-"+got), Via: via, Verified: want != "", Time: time.Now().UTC()}
	if err := s.install(ctx, blob, &m, o.Progress); err != nil {
		return Manifest{}, fmt.Errorf("pull %s: %w", ref, err)
	}
	if !m.Verified {
		o.Log.Warn("no sha256 was known for the download (pass --sha256 to verify it)", "url", r.URL, "sha256", got)
	}
	return m, nil
}

// install turns a verified blob into NAME.gguf (importing I2_S) and writes the manifest.
func (s Store) install(ctx context.Context, blob string, m *Manifest, progress func(Progress)) error {
	f, err := OpenForImport(blob)
	if err != nil {
		return fmt.Errorf("the downloaded file is not a usable GGUF: %w", err)
	}
	dst := s.ModelPath(m.Name)
	if IsI2S(f) {
		m.Imported = true
		start := time.Now()
		_, err := Import(ctx, blob, dst, func(done, total int64) {
			progress(Progress{Phase: "import", Done: done, Total: total, BytesPerSec: float64(done) / max(time.Since(start).Seconds(), 1e-3)})
		})
		if err != nil {
			return err
		}
	} else {
		fh, err := os.Open(blob)
		if err != nil {
			return err
		}
		_, verr := gguf.Decode(fh, m.Size)
		fh.Close()
		if verr != nil {
			return fmt.Errorf("the downloaded file is not a model llama.cpp can run: %w", verr)
		}
		if err := linkAtomic(blob, dst); err != nil {
			return err
		}
	}
	return s.WriteManifest(*m)
}

// linkAtomic makes dst a hard link to src (a copy where links are impossible), replacing dst atomically.
func linkAtomic(src, dst string) error {
	tmp := filepath.Join(filepath.Dir(dst), ".link-"+filepath.Base(dst)+".tmp")
	os.Remove(tmp)
	if err := os.Link(src, tmp); err != nil {
		in, err := os.Open(src)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			os.Remove(tmp)
			return diskError(err, tmp, 0)
		}
		if err := out.Close(); err != nil {
			os.Remove(tmp)
			return err
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

type headInfo struct {
	size int64
	sha  string
}

// head asks the hub for the file's size and digest. Hugging Face answers a resolve URL
// of an LFS file with a redirect that carries X-Linked-Etag (the sha256) and
// X-Linked-Size; the redirect chain is searched for them.
func (s Store) head(ctx context.Context, c *http.Client, u string) (headInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return headInfo{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return headInfo{}, fmt.Errorf("hub: %w", err)
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return headInfo{}, fmt.Errorf("%w: %s (404)", ErrHubNotFound, u)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return headInfo{}, fmt.Errorf("%w: %s (%s: a gated or private repository?)", ErrHubNotFound, u, resp.Status)
	case resp.StatusCode/100 != 2:
		return headInfo{}, fmt.Errorf("hub: HEAD %s: %s", u, resp.Status)
	}
	var h headInfo
	h.size = resp.ContentLength
	for r := resp; r != nil; {
		if v := etagSHA(r.Header.Get("X-Linked-Etag")); v != "" && h.sha == "" {
			h.sha = v
		}
		if n, err := strconv.ParseInt(r.Header.Get("X-Linked-Size"), 10, 64); err == nil && n > 0 {
			h.size = n
		}
		if h.sha == "" {
			h.sha = etagSHA(r.Header.Get("ETag"))
		}
		if r.Request == nil {
			break
		}
		r = r.Request.Response
	}
	if h.size < 0 {
		h.size = 0
	}
	return h, nil
}

func etagSHA(v string) string {
	v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
	v = strings.ToLower(strings.Trim(v, `"`))
	if isSHA256(v) {
		return v
	}
	return ""
}

var errInterrupted = errors.New("download interrupted")

// download fetches u into partial, resuming from its current length with a Range
// request, and returns the sha256 of the whole file. Errors after bytes arrived wrap
// errInterrupted and keep the partial file.
func (s Store) download(ctx context.Context, c *http.Client, u, partial string, size int64, progress func(Progress)) (string, error) {
	f, err := os.OpenFile(partial, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	have := st.Size()
	if size > 0 && have > size {
		have = 0
	}
	h := sha256.New()
	if have > 0 {
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, have)); err != nil {
			return "", err
		}
	}
	if size > 0 && have == size {
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("%w: %v (%d bytes kept for resume)", errInterrupted, err, have)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0 && strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", have)):
	case resp.StatusCode == http.StatusOK:
		if have > 0 { // the server ignored Range: start over
			have = 0
			h.Reset()
		}
	case resp.StatusCode == http.StatusNotFound:
		return "", fmt.Errorf("%w: %s (404)", ErrHubNotFound, u)
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		f.Truncate(0)
		return "", fmt.Errorf("%w: the server refused to resume at byte %d; starting over", errInterrupted, have)
	default:
		return "", fmt.Errorf("hub: GET %s: %s", u, resp.Status)
	}
	if err := f.Truncate(have); err != nil {
		return "", err
	}
	total := size
	if total == 0 && resp.ContentLength > 0 {
		total = have + resp.ContentLength
	}
	start, startHave := time.Now(), have
	last := time.Time{}
	report := func(final bool) {
		if !final && time.Since(last) < 200*time.Millisecond {
			return
		}
		last = time.Now()
		p := Progress{Phase: "download", Done: have, Total: total}
		if el := time.Since(start).Seconds(); el > 0 {
			p.BytesPerSec = float64(have-startHave) / el
			if p.BytesPerSec > 0 && total > 0 {
				p.ETA = time.Duration(float64(total-have) / p.BytesPerSec * float64(time.Second))
			}
		}
		progress(p)
	}
	buf := make([]byte, 256<<10)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := f.WriteAt(buf[:n], have); werr != nil {
				return "", diskError(werr, partial, have)
			}
			h.Write(buf[:n])
			have += int64(n)
			report(false)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return "", fmt.Errorf("%w after %d of %d bytes: %v (kept for resume in %s)", errInterrupted, have, total, rerr, partial)
		}
	}
	report(true)
	if err := f.Sync(); err != nil {
		return "", diskError(err, partial, have)
	}
	if total > 0 && have != total {
		return "", fmt.Errorf("%w: got %d of %d bytes (kept for resume in %s)", errInterrupted, have, total, partial)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// diskError names a full disk and says what happened to the partial file.
func diskError(err error, path string, kept int64) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("no space left on device writing %s: %d bytes are kept for resume; free space and pull again: %w", path, kept, err)
	}
	return fmt.Errorf("write %s: %w", path, err)
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
