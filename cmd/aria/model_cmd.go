package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/aria-node/aria/inference/gguf"
	"github.com/aria-node/aria/inference/synth"
	"github.com/aria-node/aria/models"
	"github.com/aria-node/aria/node"
)

func modelCommand() *cli.Command {
	return &cli.Command{
		Name:  "model",
		Usage: "create and inspect GGUF models",
		Subcommands: []*cli.Command{
			modelPullCommand(),
			modelImportCommand(),
			modelRmCommand(),
			{
				Name:  "synth",
				Usage: "generate a BitNet-architecture model with random ternary weights",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "shape", Value: "tiny", Usage: "tiny, 700m or 2b"},
					&cli.StringFlag{Name: "type", Value: "tq2_0", Usage: "tq2_0, tq1_0, or i2_s (Microsoft's bitnet.cpp layout, to test import)"},
					&cli.StringFlag{Name: "arch", Usage: "bitnet (SiLU; default for tq types), bitnet-b1.58 (squared ReLU; default for i2_s) or bitnet-25"},
					&cli.StringFlag{Name: "out", Usage: "output file (default: the data dir's models/aria-SHAPE-1bit.gguf)"},
					&cli.Uint64Flag{Name: "seed", Usage: "random seed (same seed, same file)"},
					dataDirFlag(),
				},
				Action: func(c *cli.Context) error {
					sh, ok := synth.Shapes[c.String("shape")]
					if !ok {
						return usageError("--shape %q: want one of %s", c.String("shape"), strings.Join(synth.ShapeNames(), ", "))
					}
					typ := synth.Type(strings.ToLower(c.String("type")))
					if typ != synth.TQ2_0 && typ != synth.TQ1_0 && typ != synth.I2_S {
						return usageError("--type %q: want tq2_0, tq1_0 or i2_s", c.String("type"))
					}
					out := c.String("out")
					if out == "" {
						out = filepath.Join(node.ModelsDir(c.String("data-dir")), node.SynthName(sh.Name)+".gguf")
					}
					return node.SynthesizeWith(c.Context, out, synth.Options{Shape: sh, Type: typ, Seed: c.Uint64("seed"), Arch: c.String("arch")}, os.Stderr)
				},
			},
			{
				Name:      "info",
				Usage:     "describe a GGUF file (validated without loading it)",
				ArgsUsage: "FILE",
				Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usageError("usage: aria model info FILE")
					}
					f, err := gguf.Open(c.Args().First())
					if err != nil {
						if i2s, ierr := models.OpenForImport(c.Args().First()); ierr == nil && models.IsI2S(i2s) {
							return fmt.Errorf("%s is a bitnet.cpp I2_S file (architecture %s): run `aria model import %s` (or pass it to --model, which imports it on first use)", c.Args().First(), i2s.Architecture(), c.Args().First())
						}
						return err
					}
					info := describe(c.Args().First(), f)
					if c.Bool("json") {
						return printJSON(info)
					}
					printInfo(info)
					return nil
				},
			},
			{
				Name:  "list",
				Usage: "list the models in the data dir (size, type, source) and the synthetic shapes",
				Flags: []cli.Flag{dataDirFlag()},
				Action: func(c *cli.Context) error {
					n, err := listModels(c)
					if err != nil {
						return err
					}
					if n == 0 {
						fmt.Printf("no models in %s\n", node.ModelsDir(c.String("data-dir")))
					}
					fmt.Printf("\nsynthetic shapes (aria model synth --shape S, or --model S on node start): %s\n", strings.Join(synth.ShapeNames(), ", "))
					return nil
				},
			},
		},
	}
}

type modelInfo struct {
	Name          string         `json:"name"`
	Path          string         `json:"path"`
	Architecture  string         `json:"architecture"`
	Parameters    uint64         `json:"parameters"`
	FileSize      int64          `json:"file_size"`
	QuantTypes    []string       `json:"quant_types"`
	TensorTypes   map[string]int `json:"tensor_types"`
	VocabSize     int            `json:"vocab_size"`
	ContextLength uint64         `json:"context_length"`
	ChatTemplate  string         `json:"chat_template"`
	Synthetic     bool           `json:"synthetic"`
	Description   string         `json:"description,omitempty"`
	GGUFVersion   uint32         `json:"gguf_version"`
	Tensors       int            `json:"tensors"`
	Imported      string         `json:"imported_from,omitempty"`
	ImportNote    string         `json:"import_note,omitempty"`
}

func describe(path string, f *gguf.File) modelInfo {
	in := modelInfo{Path: path, Architecture: f.Architecture(), Parameters: f.ParameterCount(), FileSize: f.Size,
		TensorTypes: map[string]int{}, GGUFVersion: f.Version, Tensors: len(f.Tensors)}
	in.Name = strings.TrimSuffix(filepath.Base(path), ".gguf")
	if toks, ok := f.Strings("tokenizer.ggml.tokens"); ok {
		in.VocabSize = len(toks)
	}
	in.ContextLength, _ = f.Uint(in.Architecture + ".context_length")
	in.ChatTemplate, _ = f.String("tokenizer.chat_template")
	in.Description, _ = f.String("general.description")
	if v, ok := f.Value("aria.synthetic"); ok {
		in.Synthetic, _ = v.(bool)
	}
	in.Imported, _ = f.String(models.KeyImportedFrom)
	in.ImportNote, _ = f.String(models.KeyImportNote)
	for _, tc := range f.TypeCounts(false) {
		in.QuantTypes = append(in.QuantTypes, tc.Type.String())
		in.TensorTypes[tc.Type.String()] = tc.Count
	}
	return in
}

func printInfo(in modelInfo) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "file\t%s (%s, GGUF v%d)\n", in.Path, human(float64(in.FileSize), "B"), in.GGUFVersion)
	fmt.Fprintf(tw, "architecture\t%s\n", in.Architecture)
	fmt.Fprintf(tw, "parameters\t%s (%d)\n", human(float64(in.Parameters), ""), in.Parameters)
	var types []string
	for _, t := range in.QuantTypes {
		types = append(types, fmt.Sprintf("%s×%d", t, in.TensorTypes[t]))
	}
	fmt.Fprintf(tw, "tensor types\t%s (%d tensors)\n", strings.Join(types, ", "), in.Tensors)
	fmt.Fprintf(tw, "vocab size\t%d\n", in.VocabSize)
	fmt.Fprintf(tw, "context length\t%d\n", in.ContextLength)
	tmpl := in.ChatTemplate
	switch {
	case in.Architecture == models.ArchB158 || in.Architecture == models.Arch25:
		tmpl = "BitNet b1.58 2B-4T format, whatever the file says (System: …<|eot_id|>User: …<|eot_id|>Assistant: ; stops on <|eot_id|> or EOS)"
	case tmpl == "":
		tmpl = "none (aria uses ChatML)"
	case len(tmpl) > 120:
		tmpl = fmt.Sprintf("%q… (%d bytes)", tmpl[:120], len(in.ChatTemplate))
	default:
		tmpl = fmt.Sprintf("%q", tmpl)
	}
	fmt.Fprintf(tw, "chat template\t%s\n", tmpl)
	if in.Synthetic {
		fmt.Fprintf(tw, "synthetic\tyes: random untrained weights, output is meaningless text\n")
	}
	if in.Imported != "" {
		fmt.Fprintf(tw, "imported\tfrom %s: %s\n", in.Imported, in.ImportNote)
	}
	tw.Flush()
}

func human(v float64, unit string) string {
	for _, p := range []struct {
		s string
		f float64
	}{{"G", 1e9}, {"M", 1e6}, {"K", 1e3}} {
		if v >= p.f {
			return fmt.Sprintf("%.2f%s%s", v/p.f, p.s, unit)
		}
	}
	return fmt.Sprintf("%.0f%s", v, unit)
}
