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
			Flags: append(append(append(engineFlags(), energyFlags()...), consentFlags()...),
				dataDirFlag(),
				&cli.StringSliceFlag{Name: "model", Usage: "GGUF path, model name in the data dir, or synthetic shape (tiny, 700m, 2b); repeatable (default: tiny)"},
				&cli.StringFlag{Name: "host", Value: "127.0.0.1", Usage: "address the HTTP API binds to"},
				&cli.IntFlag{Name: "api-port", Value: 3000, EnvVars: []string{"ARIA_API_PORT"}, Usage: "OpenAI-compatible HTTP API port"},
				&cli.IntFlag{Name: "port", Value: 8765, EnvVars: []string{"ARIA_NODE_PORT"}, Usage: "WebSocket peer protocol port"},
				&cli.BoolFlag{Name: "no-api", Usage: "do not start the HTTP API"},
			),
			Action: func(c *cli.Context) error {
				apiPort := c.Int("api-port")
				if c.Bool("no-api") {
					apiPort = -1
				} else if apiPort <= 0 || apiPort > 65535 {
					return usageError("--api-port %d: want 1-65535", apiPort)
				}
				if p := c.Int("port"); p <= 0 || p > 65535 {
					return usageError("--port %d: want 1-65535", p)
				}
				meter, refs, err := energyOptions(c)
				if err != nil {
					return err
				}
				contract, err := consentContract(c)
				if err != nil {
					return err
				}
				n := node.New(node.Config{
					EnergyMeter:      meter,
					EnergyReferences: &refs,
					Consent:          &contract,
					DataDir:          c.String("data-dir"),
					Models:           c.StringSlice("model"),
					Engine:           engineOptions(c),
					Host:             c.String("host"),
					APIPort:          apiPort,
					Port:             c.Int("port"),
				})
				if err := n.Start(c.Context); err != nil {
					return err
				}
				slog.Info("node running", "id", n.ID(), "data_dir", c.String("data-dir"), "models", len(n.Engine().Models()))
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
