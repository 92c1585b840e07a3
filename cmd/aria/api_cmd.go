package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/aria-node/aria/dashboard"
	"github.com/aria-node/aria/gateway"
	"github.com/aria-node/aria/node"
	"github.com/aria-node/aria/openai"
)

func apiCommand() *cli.Command {
	return &cli.Command{
		Name:  "api",
		Usage: "the OpenAI-compatible API",
		Subcommands: []*cli.Command{apiStartCommand(), {
			Name:  "status",
			Usage: "show a node's /v1/status and /health (exit 1 when unreachable or degraded)",
			Flags: []cli.Flag{
				&cli.IntFlag{Name: "port", Value: 3000, EnvVars: []string{"ARIA_API_PORT"}, Usage: "API port"},
				&cli.StringFlag{Name: "host", Value: "127.0.0.1", Usage: "API host"},
				&cli.BoolFlag{Name: "json", Usage: "print {\"status\":…, \"health\":…} as JSON"},
				&cli.DurationFlag{Name: "timeout", Value: 5 * time.Second, Usage: "give up after this long"},
			},
			Action: func(c *cli.Context) error {
				base := "http://" + net.JoinHostPort(c.String("host"), strconv.Itoa(c.Int("port")))
				ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
				defer cancel()
				var st openai.Status
				var h openai.Health
				if _, err := getJSON(ctx, base+"/v1/status", &st); err != nil {
					return cli.Exit(fmt.Sprintf("node API at %s is unreachable: %v", base, err), 1)
				}
				code, err := getJSON(ctx, base+"/health", &h)
				if err != nil {
					return cli.Exit(fmt.Sprintf("node API at %s: /health: %v", base, err), 1)
				}
				if c.Bool("json") {
					if err := printJSON(map[string]any{"status": st, "health": h}); err != nil {
						return err
					}
				} else {
					tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintf(tw, "api\t%s (version %s, up %s)\n", base, h.Version, time.Duration(h.UptimeSeconds)*time.Second)
					fmt.Fprintf(tw, "health\t%s\n", h.Status)
					fmt.Fprintf(tw, "node\t%s  %s  %s  running=%v  up %s\n", h.Node.NodeID, h.Node.URI, h.Node.Status, h.Node.IsRunning, time.Duration(h.Node.UptimeSeconds)*time.Second)
					fmt.Fprintf(tw, "backend\t%s (kernel available: %v, %s)\n", st.Backend, st.LlamaCLIAvailable, st.LlamaCLIPath)
					fmt.Fprintf(tw, "models\t%d\n", st.ModelsCount)
					fmt.Fprintf(tw, "slots\t%d/%d active, %d/%d queued\n", st.ActiveSlots, st.TotalSlots, st.Queued, st.QueueSize)
					for ep, state := range h.Endpoints {
						fmt.Fprintf(tw, "  %s\t%s\n", ep, state)
					}
					tw.Flush()
				}
				if code != http.StatusOK || h.Status != "healthy" {
					return cli.Exit("", 1)
				}
				return nil
			},
		}},
	}
}

func getJSON(ctx context.Context, url string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return resp.StatusCode, fmt.Errorf("HTTP %d, not JSON: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, nil
}

// apiStartCommand is the stand-alone OpenAI gateway: the same API as a node's, served
// from a node reached over the WebSocket peer protocol.
func apiStartCommand() *cli.Command {
	return &cli.Command{
		Name:  "start",
		Usage: "serve the OpenAI-compatible API for a node reached over its WebSocket port (until SIGINT/SIGTERM)",
		Flags: append([]cli.Flag{
			&cli.IntFlag{Name: "port", Value: 3000, EnvVars: []string{"ARIA_API_PORT"}, Usage: "API port"},
			&cli.StringFlag{Name: "host", Value: "127.0.0.1", Usage: "address the API binds to"},
			&cli.StringFlag{Name: "node-host", Value: "localhost", EnvVars: []string{"ARIA_NODE_HOST"}, Usage: "the node's host"},
			&cli.IntFlag{Name: "node-port", Value: 8765, EnvVars: []string{"ARIA_NODE_PORT"}, Usage: "the node's WebSocket port"},
			&cli.BoolFlag{Name: "owner", Usage: "act for the node's owner: present the owner token from --data-dir, so this machine's own clients run at full speed outside the consent contract (clients from other machines, or marked X-Aria-Origin: remote, stay remote)"},
			dataDirFlag(),
			corsOriginsFlag(), allowedHostsFlag(),
		}, platformFlags()...),
		Action: func(c *cli.Context) error {
			if p := c.Int("port"); p <= 0 || p > 65535 {
				return usageError("--port %d: want 1-65535", p)
			}
			ln, err := net.Listen("tcp", net.JoinHostPort(c.String("host"), strconv.Itoa(c.Int("port"))))
			if err != nil {
				return fmt.Errorf("HTTP API: %w", err)
			}
			url := nodeURL(c)
			gcfg := gateway.Config{URL: url}
			if c.Bool("owner") {
				tok, err := node.ReadOwnerToken(c.String("data-dir"))
				if err != nil {
					return usageError("--owner: cannot read the node's owner token: %v (is the node running with this --data-dir?)", err)
				}
				gcfg.OwnerToken = tok
			}
			// The platform layer (tenant keys, quotas, metering) when asked for or when the
			// gateway is reachable from other machines; tenants are shared with nodes and
			// other gateways through --database-url.
			var platform func(http.Handler) http.Handler
			if pc := platformConfig(c); pc.Auth || pc.DatabaseURL != "" || node.AuthRequired(false, c.String("host")) {
				p, err := node.StartPlatform(c.Context, pc, c.String("data-dir"), c.String("host"), nil, slog.Default())
				if err != nil {
					ln.Close()
					return err
				}
				defer p.Close()
				platform = p.Access
			}
			gw := gateway.New(c.Context, gcfg)
			defer gw.Close()
			srv := gw.Server(openai.Config{Version: node.Version,
				Access: openai.Access{BindHost: c.String("host"), Port: ln.Addr().(*net.TCPAddr).Port,
					Origins: c.StringSlice("cors-origins"), Hosts: c.StringSlice("allowed-hosts")},
				Platform: platform, UI: dashboard.Handler()})
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ln) }()
			slog.Info("OpenAI-compatible gateway listening", "url", "http://"+ln.Addr().String()+"/v1", "node", url, "node_reachable", gw.Reachable())
			select {
			case err := <-done:
				return err
			case <-c.Context.Done():
			}
			slog.Info("shutting down")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				return err
			}
			return <-done
		},
	}
}
