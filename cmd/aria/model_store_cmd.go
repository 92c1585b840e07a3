package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/aria-node/aria/inference/gguf"
	"github.com/aria-node/aria/models"
	"github.com/aria-node/aria/node"
)

func storeOf(c *cli.Context) models.Store {
	return models.Store{Dir: node.ModelsDir(c.String("data-dir"))}
}

func modelImportCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "import a Microsoft BitNet I2_S GGUF (bitnet-b1.58, bitnet-25) into the data dir: a lossless repack to TQ2_0",
		ArgsUsage: "FILE",
		Flags:     []cli.Flag{&cli.StringFlag{Name: "name", Usage: "model name (default: from the file name)"}, dataDirFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError("usage: aria model import FILE [--name NAME]")
			}
			m, _, err := storeOf(c).ImportFile(c.Context, c.Args().First(), c.String("name"), os.Stderr)
			if err != nil {
				return err
			}
			fmt.Printf("%s\t%s\n", m.Name, storeOf(c).ModelPath(m.Name))
			return nil
		},
	}
}

func modelPullCommand() *cli.Command {
	names := make([]string, len(models.Catalog))
	for i, e := range models.Catalog {
		names[i] = e.Name
	}
	return &cli.Command{
		Name:      "pull",
		Usage:     "download a model (catalogue: " + strings.Join(names, ", ") + "), verify its sha256 and import it",
		ArgsUsage: "NAME|hf://OWNER/REPO/FILE|URL",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "sha256", Usage: "expected digest (default: the hub's X-Linked-Etag/ETag)"},
			&cli.StringFlag{Name: "name", Usage: "store the model under this name"},
			&cli.StringSliceFlag{Name: "bootstrap", Usage: "multiaddr of a node to ask for the file first (repeatable)"},
			&cli.BoolFlag{Name: "no-mdns", Usage: "do not look for nodes on the local network"},
			&cli.BoolFlag{Name: "no-peers", Usage: "download from the hub only"},
			dataDirFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError("usage: aria model pull NAME|hf://OWNER/REPO/FILE|URL [--sha256 HEX]")
			}
			o := models.PullOptions{Name: c.String("name"), SHA256: c.String("sha256")}
			if !c.Bool("no-peers") {
				// Peers are asked first when the file's digest is known (from the hub or --sha256).
				peers, stop, err := node.ModelPeers(c.Context, node.PeerConfig{Bootstrap: c.StringSlice("bootstrap"), NoMDNS: c.Bool("no-mdns")}, slog.Default())
				if err != nil {
					slog.Warn("cannot join the peer network; using the hub only", "err", err)
				} else {
					defer stop()
					o.Peers = peers
				}
			}
			bar := newProgressBar()
			o.Progress = bar.update
			m, err := storeOf(c).Pull(c.Context, c.Args().First(), o)
			bar.done()
			if err != nil {
				return err
			}
			how := "verified sha256 " + m.SHA256
			if !m.Verified {
				how = "UNVERIFIED (no digest known; sha256 " + m.SHA256 + ")"
			}
			fmt.Fprintf(os.Stderr, "pulled %s from %s, %s\n", m.Name, m.Source, how)
			fmt.Printf("%s\t%s\n", m.Name, storeOf(c).ModelPath(m.Name))
			return nil
		},
	}
}

func modelRmCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Usage:     "remove a model from the data dir",
		ArgsUsage: "NAME...",
		Flags:     []cli.Flag{dataDirFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usageError("usage: aria model rm NAME...")
			}
			for _, name := range c.Args().Slice() {
				if err := storeOf(c).Remove(strings.TrimSuffix(name, ".gguf")); err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "removed %s\n", name)
			}
			return nil
		},
	}
}

// listModels prints the store's models with size, type and source.
func listModels(c *cli.Context) (int, error) {
	ents, err := storeOf(c).List()
	if err != nil {
		return 0, err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tARCH\tPARAMS\tTYPE\tSIZE\tSOURCE")
	for _, e := range ents {
		f, err := gguf.Open(e.Path)
		if err != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t%s\tinvalid: %v\n", e.Name, human(float64(e.Size), "B"), err)
			continue
		}
		in := describe(e.Path, f)
		typ := strings.Join(in.QuantTypes, ",")
		source := "local file"
		switch {
		case in.Synthetic:
			source = "synthetic (untrained)"
		case e.Manifest != nil:
			source = e.Manifest.Source
			if e.Manifest.Via == "hub" || e.Manifest.Via == "peer" {
				source = "pulled from " + source
			}
		}
		if e.Manifest != nil && e.Manifest.Imported {
			typ += " (from I2_S)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, in.Architecture, human(float64(in.Parameters), ""), typ, human(float64(e.Size), "B"), source)
	}
	tw.Flush()
	return len(ents), nil
}

// progressBar draws pull progress on stderr: bar, bytes, speed, ETA.
type progressBar struct {
	phase string
	shown bool
}

func newProgressBar() *progressBar { return &progressBar{} }

func (b *progressBar) update(p models.Progress) {
	if p.Phase != b.phase && b.shown {
		fmt.Fprintln(os.Stderr)
	}
	b.phase, b.shown = p.Phase, true
	const width = 30
	bar := strings.Repeat("-", width)
	pct := ""
	if p.Total > 0 {
		n := int(width * p.Done / max(p.Total, 1))
		bar = strings.Repeat("#", n) + strings.Repeat("-", width-n)
		pct = fmt.Sprintf("%5.1f%% ", 100*float64(p.Done)/float64(p.Total))
	}
	line := fmt.Sprintf("\r%-8s [%s] %s%s / %s", p.Phase, bar, pct, human(float64(p.Done), "B"), human(float64(p.Total), "B"))
	if p.BytesPerSec > 0 {
		line += fmt.Sprintf("  %s/s", human(p.BytesPerSec, "B"))
	}
	if p.ETA > 0 {
		line += fmt.Sprintf("  ETA %s", p.ETA.Round(time.Second))
	}
	fmt.Fprint(os.Stderr, line+"   ")
}

func (b *progressBar) done() {
	if b.shown {
		fmt.Fprintln(os.Stderr)
	}
}
