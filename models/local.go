package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// ImportFile imports the I2_S file at src into the store as name (default: from the
// file name) and records where it came from. progress gets a percentage line.
func (s Store) ImportFile(ctx context.Context, src, name string, progress io.Writer) (Manifest, ImportResult, error) {
	if progress == nil {
		progress = io.Discard
	}
	abs, err := filepath.Abs(src)
	if err != nil {
		return Manifest{}, ImportResult{}, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return Manifest{}, ImportResult{}, fmt.Errorf("import: %w", err)
	}
	if name == "" {
		name = nameFromFile(abs)
	}
	if err := CheckName(name); err != nil {
		return Manifest{}, ImportResult{}, err
	}
	fmt.Fprintf(progress, "importing %s (I2_S) into %s\n", abs, s.ModelPath(name))
	start, last := time.Now(), time.Time{}
	res, err := Import(ctx, abs, s.ModelPath(name), func(done, total int64) {
		if time.Since(last) < 250*time.Millisecond && done < total {
			return
		}
		last = time.Now()
		fmt.Fprintf(progress, "\r  %5.1f%%  %7.1f / %.1f MiB", 100*float64(done)/float64(total), float64(done)/(1<<20), float64(total)/(1<<20))
	})
	fmt.Fprintln(progress)
	if err != nil {
		return Manifest{}, res, err
	}
	fmt.Fprintf(progress, "done in %s: %d ternary tensors repacked losslessly to TQ2_0, %s -> %s bytes\n",
		time.Since(start).Round(10*time.Millisecond), res.Repacked, fmtInt(res.InBytes), fmtInt(res.OutBytes))
	m := Manifest{Name: name, File: name + ".gguf", Source: abs, Size: st.Size(), Imported: true, Via: "file",
		SourceMTime: st.ModTime().UTC(), Time: time.Now().UTC()}
	return m, res, s.WriteManifest(m)
}

// Runnable returns a path the kernel can run for the GGUF at path: path itself, or for
// an I2_S file its import in the store, made on first use and reused while the source
// file is unchanged (same size and modification time).
func (s Store) Runnable(ctx context.Context, path string, progress io.Writer) (string, error) {
	f, err := OpenForImport(path)
	if err != nil || !IsI2S(f) {
		return path, nil // not I2_S: the engine validates it and names any problem
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", err
	}
	name := nameFromFile(abs)
	if m, ok, _ := s.Manifest(name); ok && m.Source != abs {
		sum := sha256.Sum256([]byte(abs))
		name += "-" + hex.EncodeToString(sum[:4])
	}
	if m, ok, _ := s.Manifest(name); ok && m.Source == abs && m.Size == st.Size() && m.SourceMTime.Equal(st.ModTime().UTC()) {
		if _, err := os.Stat(s.ModelPath(name)); err == nil {
			return s.ModelPath(name), nil
		}
	}
	if _, _, err := s.ImportFile(ctx, abs, name, progress); err != nil {
		return "", err
	}
	return s.ModelPath(name), nil
}

func fmtInt(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
