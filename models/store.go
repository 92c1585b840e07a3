package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aria-node/aria/internal/atomicfile"
)

// Store is a data dir's models directory:
//
//	NAME.gguf                 a model the kernel runs (pulled, imported or synthesized)
//	NAME.json                 its manifest (pulled and imported models only)
//	blobs/sha256-HEX          verified downloads, by content (what peers are served)
//	.partial/sha256-HEX.part  downloads in progress, kept for resume
type Store struct{ Dir string }

// Manifest records where a stored model came from.
type Manifest struct {
	Name     string    `json:"name"`
	File     string    `json:"file"`             // NAME.gguf
	Source   string    `json:"source"`           // URL, hf://…, peer, or the imported file's path
	SHA256   string    `json:"sha256,omitempty"` // of the downloaded file (the blob)
	Size     int64     `json:"size"`             // of the downloaded file
	Blob     string    `json:"blob,omitempty"`   // blobs/sha256-HEX, when kept
	Imported bool      `json:"imported"`         // converted from I2_S
	Via      string    `json:"via,omitempty"`    // "hub", "peer" or "file"
	Verified bool      `json:"verified"`         // the digest was known and matched
	Time     time.Time `json:"time"`

	SourceMTime time.Time `json:"source_mtime,omitempty"` // of an imported local file
}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// CheckName refuses model names that are not plain file names.
func CheckName(name string) error {
	if !validName.MatchString(name) || strings.HasSuffix(name, ".gguf") || strings.Contains(name, "..") {
		return fmt.Errorf("invalid model name %q: use letters, digits, '.', '_' and '-'", name)
	}
	return nil
}

func (s Store) ModelPath(name string) string    { return filepath.Join(s.Dir, name+".gguf") }
func (s Store) manifestPath(name string) string { return filepath.Join(s.Dir, name+".json") }
func (s Store) blobsDir() string                { return filepath.Join(s.Dir, "blobs") }
func (s Store) partialDir() string              { return filepath.Join(s.Dir, ".partial") }

// BlobPath is where the verified file with the digest is kept.
func (s Store) BlobPath(sha string) string { return filepath.Join(s.blobsDir(), "sha256-"+sha) }

// PartialPath is where a download of the file with the digest accumulates.
func (s Store) PartialPath(key string) string { return filepath.Join(s.partialDir(), key+".part") }

// Manifest reads NAME's manifest; ok is false when it has none.
func (s Store) Manifest(name string) (Manifest, bool, error) {
	b, err := os.ReadFile(s.manifestPath(name))
	if errors.Is(err, os.ErrNotExist) {
		return Manifest{}, false, nil
	}
	if err != nil {
		return Manifest{}, false, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Manifest{}, false, fmt.Errorf("manifest %s: %w", s.manifestPath(name), err)
	}
	return m, true, nil
}

// WriteManifest stores m atomically.
func (s Store) WriteManifest(m Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(s.manifestPath(m.Name), append(b, '\n'), 0o644)
}

// Entry is one model of List.
type Entry struct {
	Name     string
	Path     string
	Size     int64
	Manifest *Manifest // nil for models with no manifest (synthesized, copied in by hand)
}

// List returns the models (NAME.gguf files) in the store, by name.
func (s Store) List() ([]Entry, error) {
	ents, err := os.ReadDir(s.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".gguf")
		if e.IsDir() || !ok || strings.HasPrefix(name, ".") {
			continue
		}
		en := Entry{Name: name, Path: filepath.Join(s.Dir, e.Name())}
		if st, err := e.Info(); err == nil {
			en.Size = st.Size()
		}
		if m, ok, err := s.Manifest(name); err == nil && ok {
			en.Manifest = &m
		}
		out = append(out, en)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ErrNotFound is returned by Remove for a model the store does not have.
var ErrNotFound = errors.New("model not found")

// Remove deletes NAME's model file and manifest, and its download blob when no other
// manifest refers to it.
func (s Store) Remove(name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	m, hasManifest, err := s.Manifest(name)
	if err != nil {
		return err
	}
	err = os.Remove(s.ModelPath(name))
	if errors.Is(err, os.ErrNotExist) && !hasManifest {
		return fmt.Errorf("%w: %q is not in %s", ErrNotFound, name, s.Dir)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if hasManifest {
		if err := os.Remove(s.manifestPath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if m.Blob != "" && !s.blobInUse(m.Blob) {
			if err := os.Remove(filepath.Join(s.Dir, m.Blob)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

func (s Store) blobInUse(blob string) bool {
	ents, _ := s.List()
	for _, e := range ents {
		if e.Manifest != nil && e.Manifest.Blob == blob {
			return true
		}
	}
	return false
}

// Blobs returns the digests of the verified files the store holds.
func (s Store) Blobs() ([]string, error) {
	ents, err := os.ReadDir(s.blobsDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if d, ok := strings.CutPrefix(e.Name(), "sha256-"); ok && isSHA256(d) && e.Type().IsRegular() {
			out = append(out, d)
		}
	}
	return out, nil
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
