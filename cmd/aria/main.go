// Command aria runs and manages an aria node: a decentralized inference node serving
// 1-bit (ternary) models through llama.cpp.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/aria-node/aria/node"
)

func main() {
	app := &cli.App{
		Name:    "aria",
		Usage:   "decentralized inference node for 1-bit (ternary) models",
		Version: node.Version,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"ARIA_LOG"}, Usage: "debug, info, warn or error"},
		},
		Before: func(c *cli.Context) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(c.String("log-level"))); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})))
			return nil
		},
		Commands: []*cli.Command{
			nodeCommand(),
			modelCommand(),
			inferCommand(),
			benchCommand(),
			apiCommand(),
			energyCommand(),
			networkCommand(),
			intentionsCommand(),
			adminCommand(),
		},
		ExitErrHandler: func(c *cli.Context, err error) {},
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := app.RunContext(ctx, os.Args)
	stop()
	if err != nil {
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			if msg := strings.TrimSpace(err.Error()); msg != "" {
				fmt.Fprintln(os.Stderr, "aria:", msg)
			}
			os.Exit(ec.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "aria:", err)
		os.Exit(1)
	}
}

func dataDirFlag() cli.Flag {
	return &cli.StringFlag{Name: "data-dir", Value: node.DefaultDataDir(), EnvVars: []string{"ARIA_HOME"}, Usage: "node data directory (identity, database, models)"}
}

func threadsFlag() cli.Flag {
	return &cli.IntFlag{Name: "threads", Usage: "CPU threads per decode (default: all CPUs)"}
}

// usageError exits with status 2, like flag parsing errors.
func usageError(format string, args ...any) error {
	return cli.Exit(fmt.Sprintf(format, args...), 2)
}

// printJSON writes v to stdout as indented JSON (the --json output of every command).
func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
