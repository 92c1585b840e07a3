package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/node"
	"github.com/aria-node/aria/openai"
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
		}, {
			Name:  "status",
			Usage: "show the running node: models, slots, consent contract (accepting work now, and why not), kernel, energy",
			Flags: apiClientFlags(),
			Action: func(c *cli.Context) error {
				ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
				defer cancel()
				var st openai.Status
				var e openai.Energy
				if _, err := getJSON(ctx, apiBase(c)+"/v1/status", &st); err != nil {
					return cli.Exit(fmt.Sprintf("node API at %s is unreachable: %v", apiBase(c), err), 1)
				}
				if _, err := getJSON(ctx, apiBase(c)+"/v1/energy", &e); err != nil {
					return cli.Exit(fmt.Sprintf("node API at %s: /v1/energy: %v", apiBase(c), err), 1)
				}
				if c.Bool("json") {
					return printJSON(map[string]any{"status": st, "energy": e})
				}
				printNodeStatus(st)
				printEnergy(e)
				return nil
			},
		}},
	}
}

func printNodeStatus(st openai.Status) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "version\t%s\n", st.Version)
	fmt.Fprintf(tw, "backend\t%s, %d models\n", st.Backend, st.ModelsCount)
	fmt.Fprintf(tw, "slots\t%d/%d active, %d/%d queued\n", st.ActiveSlots, st.TotalSlots, st.Queued, st.QueueSize)
	fmt.Fprintf(tw, "kernel\t%d threads, duty cycle %.2f\n", st.Threads, st.DutyCycle)
	if cs := st.Consent; cs != nil {
		if cs.Accepting {
			fmt.Fprintf(tw, "remote work\taccepting (%d of %d tasks running)\n", cs.RunningTasks, cs.Contract.MaxConcurrentTasks)
		} else if cs.Reason != nil {
			fmt.Fprintf(tw, "remote work\tNOT accepting: %s [%s]\n", cs.Reason.Message, cs.Reason.Code)
		}
		ct := cs.Contract
		schedule := ct.Schedule
		if schedule == "" {
			schedule = "always"
		}
		days := strings.Join(ct.Days, ",")
		if days == "" {
			days = "every day"
		}
		fmt.Fprintf(tw, "contract\tcpu %d%%, schedule %s (%s), days %s, task types %s, max concurrent %d\n",
			ct.CPUPercent, schedule, ct.Timezone, days, strings.Join(ct.TaskTypes, ","), ct.MaxConcurrentTasks)
		limit := func(v float64, unit string) string {
			if v == 0 {
				return "no limit"
			}
			return fmt.Sprintf("%g %s", v, unit)
		}
		fmt.Fprintf(tw, "\tmax RAM %s, bandwidth %s, logging of remote work %v\n",
			limit(float64(ct.MaxRAMMB), "MiB"), limit(ct.MaxBandwidthMbps, "Mbit/s"), ct.AllowLogging)
	}
	tw.Flush()
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
