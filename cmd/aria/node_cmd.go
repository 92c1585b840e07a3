package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/node"
)

func nodeCommand() *cli.Command {
	return &cli.Command{
		Name:  "node",
		Usage: "run an aria node",
		Subcommands: []*cli.Command{{
			Name:  "start",
			Usage: "load models and serve until SIGINT/SIGTERM",
			Flags: append(engineFlags(),
				dataDirFlag(),
				&cli.StringSliceFlag{Name: "model", Usage: "GGUF path, model name in the data dir, or synthetic shape (tiny, 700m, 2b); repeatable (default: tiny)"},
			),
			Action: func(c *cli.Context) error {
				n := node.New(node.Config{
					DataDir: c.String("data-dir"),
					Models:  c.StringSlice("model"),
					Engine:  engineOptions(c),
				})
				if err := n.Start(c.Context); err != nil {
					return err
				}
				slog.Info("node running", "data_dir", c.String("data-dir"), "models", len(n.Engine().Models()))
				<-c.Context.Done()
				slog.Info("shutting down")
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				return n.Shutdown(ctx)
			},
		}},
	}
}

func engineFlags() []cli.Flag {
	return []cli.Flag{
		threadsFlag(),
		&cli.IntFlag{Name: "slots", Value: 4, Usage: "parallel sequences per model (continuous batching)"},
		&cli.IntFlag{Name: "ctx-size", Usage: "context window per request in tokens (default: min(4096, model's trained context))"},
		&cli.IntFlag{Name: "queue", Value: 16, Usage: "requests that may wait for a free slot before the node answers busy"},
	}
}

func engineOptions(c *cli.Context) inference.Options {
	return inference.Options{
		Threads:     c.Int("threads"),
		Slots:       c.Int("slots"),
		SlotContext: c.Int("ctx-size"),
		QueueSize:   c.Int("queue"),
	}
}
