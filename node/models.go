package node

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aria-node/aria/inference/synth"
	"github.com/aria-node/aria/models"
)

// DefaultModel is the model a node serves when none is given: the tiny synthetic demo.
const DefaultModel = "tiny"

// NoModel as a --model value loads nothing: the node routes every request to peers.
const NoModel = "none"

// SynthName is the file/model name of a synthesized shape, e.g. aria-2b-1bit.
func SynthName(shape string) string { return "aria-" + shape + "-1bit" }

// ModelsDir is where a data dir keeps its models.
func ModelsDir(dataDir string) string { return filepath.Join(dataDir, "models") }

// ResolveModel turns a --model value into a file path. In order: an existing file; a
// model named NAME or NAME.gguf in the data dir; a synthetic shape name (tiny, 700m,
// 2b) or its model name (aria-tiny-1bit), which is synthesized into the data dir on
// first use with progress written to progress.
func ResolveModel(ctx context.Context, dataDir, spec string, progress io.Writer) (string, error) {
	if spec == "" {
		spec = DefaultModel
	}
	if st, err := os.Stat(spec); err == nil {
		if st.IsDir() {
			return "", fmt.Errorf("model %s is a directory, not a GGUF file", spec)
		}
		// Microsoft's I2_S BitNet files are imported into the data dir on first use.
		return models.Store{Dir: ModelsDir(dataDir)}.Runnable(ctx, spec, progress)
	}
	dir := ModelsDir(dataDir)
	for _, name := range []string{spec, spec + ".gguf"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	shape := spec
	for s := range synth.Shapes {
		if spec == SynthName(s) {
			shape = s
		}
	}
	sh, ok := synth.Shapes[shape]
	if _, err := models.ParseRef(spec, ""); !ok && err == nil && !strings.Contains(spec, "://") {
		return "", fmt.Errorf("model %q is not in %s yet: run `aria model pull %s`", spec, dir, spec)
	}
	if !ok {
		if strings.ContainsAny(spec, `/\`) || strings.HasSuffix(spec, ".gguf") {
			return "", fmt.Errorf("model file %s does not exist", spec)
		}
		return "", fmt.Errorf("unknown model %q: not a file, not in %s, and not a synthetic shape (%s)", spec, dir, strings.Join(synth.ShapeNames(), ", "))
	}
	path := filepath.Join(dir, SynthName(shape)+".gguf")
	if err := Synthesize(ctx, path, sh, synth.TQ2_0, 0, progress); err != nil {
		return "", err
	}
	return path, nil
}

// Synthesize writes a synthetic model with progress output.
func Synthesize(ctx context.Context, path string, sh synth.Shape, typ synth.Type, seed uint64, progress io.Writer) error {
	return SynthesizeWith(ctx, path, synth.Options{Shape: sh, Type: typ, Seed: seed}, progress)
}

// SynthesizeWith is Synthesize with every generator option (architecture, I2_S).
func SynthesizeWith(ctx context.Context, path string, o synth.Options, progress io.Writer) error {
	sh, typ := o.Shape, o.Type
	if progress == nil {
		progress = io.Discard
	}
	fmt.Fprintf(progress, "synthesizing %s (%s shape, %s, random untrained weights) into %s\n", filepath.Base(path), sh.Name, typ, path)
	start := time.Now()
	last := time.Time{}
	o.Progress = func(done, total int64) {
		if time.Since(last) < 250*time.Millisecond && done < total {
			return
		}
		last = time.Now()
		fmt.Fprintf(progress, "\r  %5.1f%%  %7.1f / %.1f MiB", 100*float64(done)/float64(total), float64(done)/(1<<20), float64(total)/(1<<20))
	}
	err := synth.WriteFile(ctx, path, o)
	fmt.Fprintln(progress)
	if err != nil {
		return fmt.Errorf("synthesize %s: %w", path, err)
	}
	fmt.Fprintf(progress, "done in %s\n", time.Since(start).Round(100*time.Millisecond))
	return nil
}

// LocalModels lists the GGUF files in the data dir's models directory.
func LocalModels(dataDir string) ([]string, error) {
	entries, err := os.ReadDir(ModelsDir(dataDir))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".gguf") && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, filepath.Join(ModelsDir(dataDir), e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}
