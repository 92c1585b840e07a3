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

	"github.com/aria-node/aria/inference/local"
	"github.com/aria-node/aria/node"
)

func nodeCommand() *cli.Command {
	return &cli.Command{
		Name:  "node",
		Usage: "run an aria node",
		Subcommands: []*cli.Command{{
			Name:  "start",
			Usage: "load models and serve until SIGINT/SIGTERM",
			Flags: append(append(append(append(append(engineFlags(), energyFlags()...), consentFlags()...), peerFlags()...), platformFlags()...),
				dataDirFlag(),
				&cli.StringSliceFlag{Name: "model", Usage: "GGUF path, model name in the data dir, or synthetic shape (tiny, 700m, 2b); repeatable (default: tiny)"},
				&cli.StringFlag{Name: "host", Value: "127.0.0.1", Usage: "address the HTTP API binds to"},
				&cli.IntFlag{Name: "api-port", Value: 3000, EnvVars: []string{"ARIA_API_PORT"}, Usage: "OpenAI-compatible HTTP API port"},
				&cli.IntFlag{Name: "port", Value: 8765, EnvVars: []string{"ARIA_NODE_PORT"}, Usage: "WebSocket peer protocol port"},
				&cli.BoolFlag{Name: "no-api", Usage: "do not start the HTTP API"},
				corsOriginsFlag(), allowedHostsFlag(),
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
				file, err := configFile(c)
				if err != nil {
					return err
				}
				contract, err := consentContract(c, file)
				if err != nil {
					return err
				}
				provs, err := providersConfig(file)
				if err != nil {
					return err
				}
				platform, err := agentsConfig(file, platformConfig(c))
				if err != nil {
					return err
				}
				n := node.New(node.Config{
					EnergyMeter:      meter,
					EnergyReferences: &refs,
					Consent:          &contract,
					Peers:            peerConfig(c),
					DataDir:          c.String("data-dir"),
					Models:           c.StringSlice("model"),
					Engine:           engineOptions(c),
					Host:             c.String("host"),
					APIPort:          apiPort,
					Port:             c.Int("port"),
					CORSOrigins:      c.StringSlice("cors-origins"),
					AllowedHosts:     c.StringSlice("allowed-hosts"),
					Platform:         platform,
					Providers:        provs,
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
		}, nodeStatusCommand()},
	}
}

func printNodeStats(st node.NodeStats) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "node\t%s (version %s, up %s)\n", st.NodeID, st.Version, (time.Duration(st.UptimeSeconds) * time.Second).String())
	models := make([]string, 0, len(st.Models))
	for _, m := range st.Models {
		models = append(models, m.ID)
	}
	fmt.Fprintf(tw, "models\t%s\n", strings.Join(models, ", "))
	fmt.Fprintf(tw, "slots\t%d/%d active, %d/%d queued (load %.2f)\n", st.Slots.ActiveSlots, st.Slots.TotalSlots, st.Slots.Queued, st.Slots.QueueSize, st.Load)
	fmt.Fprintf(tw, "kernel\towner: %d threads; work for others: %d threads, duty cycle %.2f\n", st.OwnerThreads, st.Threads, st.DutyCycle)
	fmt.Fprintf(tw, "peers\t%d connected\n", st.Peers)
	for _, a := range st.Addrs {
		fmt.Fprintf(tw, "\t%s\n", a)
	}
	if cs := &st.Consent; true {
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

func engineOptions(c *cli.Context) local.Options {
	return local.Options{
		Threads:     c.Int("threads"),
		Slots:       c.Int("slots"),
		SlotContext: c.Int("ctx-size"),
		QueueSize:   c.Int("queue"),
	}
}
