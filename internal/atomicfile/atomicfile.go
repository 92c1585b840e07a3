// Package atomicfile writes files so that a reader, or a crash, sees either the old
// content or the whole new content, never part of it: the data goes to a temporary
// file beside the target, is synced, gets its permissions and is renamed into place.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write creates path's directory (0755) if needed and writes path through fill, which
// gets the temporary file to write to. On any error, fill's included, the temporary
// file is removed and path is left as it was.
func Write(path string, perm os.FileMode, fill func(f *os.File) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	err = fill(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), perm)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	return err
}

// WriteFile writes data to path atomically with permissions perm.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}
