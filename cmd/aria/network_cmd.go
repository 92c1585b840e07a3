package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/aria-node/aria/node"
	"github.com/aria-node/aria/p2p"
	"github.com/aria-node/aria/p2p/peerproto"
)

// peerFlags configure the node's part in the peer network.
func peerFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "peer-host", Value: "0.0.0.0", Usage: "address the WebSocket peer protocol binds to (peers authenticate)"},
		&cli.StringFlag{Name: "advertise-host", Usage: "host in the ws:// URL peers are told (default: --peer-host, or this machine's first non-loopback address)"},
		&cli.StringSliceFlag{Name: "listen-p2p", Usage: "libp2p listen multiaddr, repeatable (default /ip4/0.0.0.0/tcp/0 and /ip4/0.0.0.0/udp/0/quic-v1)"},
		&cli.StringSliceFlag{Name: "bootstrap", Usage: "multiaddr (with /p2p/ID) of a node to join the network through, repeatable"},
		&cli.BoolFlag{Name: "no-mdns", Usage: "do not look for peers on the local network (mDNS)"},
		&cli.StringFlag{Name: "mdns-service", Value: p2p.DefaultMDNSService, Usage: "mDNS service name (nodes with the same name find each other)"},
		&cli.IntFlag{Name: "max-peer-conns", Value: 256, Usage: "connections the peer port holds at once (at most a quarter of the open-file limit)"},
		&cli.IntFlag{Name: "max-peer-conns-per-ip", Value: 64, Usage: "connections the peer port holds from one address"},
		&cli.DurationFlag{Name: "peer-idle-timeout", Value: 2 * time.Minute, Usage: "close peer-port connections without a request for this long (pings do not count)"},
	}
}

func peerConfig(c *cli.Context) node.PeerConfig {
	return node.PeerConfig{
		Host: c.String("peer-host"), AdvertiseHost: c.String("advertise-host"), ListenP2P: c.StringSlice("listen-p2p"),
		Bootstrap: c.StringSlice("bootstrap"), NoMDNS: c.Bool("no-mdns"), MDNSService: c.String("mdns-service"),
		MaxConns: c.Int("max-peer-conns"), MaxConnsPerIP: c.Int("max-peer-conns-per-ip"), IdleTimeout: c.Duration("peer-idle-timeout"),
	}
}

// nodeClientFlags address a node's WebSocket peer protocol.
func nodeClientFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "node-host", Value: "localhost", EnvVars: []string{"ARIA_NODE_HOST"}, Usage: "the node's host"},
		&cli.IntFlag{Name: "node-port", Value: 8765, EnvVars: []string{"ARIA_NODE_PORT"}, Usage: "the node's WebSocket port"},
		&cli.BoolFlag{Name: "json", Usage: "print the node's JSON"},
		&cli.DurationFlag{Name: "timeout", Value: 5 * time.Second, Usage: "give up after this long"},
	}
}

func nodeURL(c *cli.Context) string {
	return "ws://" + net.JoinHostPort(c.String("node-host"), strconv.Itoa(c.Int("node-port")))
}

// askNode dials the node, runs ask, and closes the connection.
func askNode(c *cli.Context, ask func(ctx context.Context, conn *peerproto.Conn) (json.RawMessage, error)) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	conn, err := peerproto.Dial(ctx, nodeURL(c), peerproto.DialOptions{})
	if err != nil {
		return nil, cli.Exit(fmt.Sprintf("node at %s is unreachable: %v", nodeURL(c), err), 1)
	}
	defer conn.Close()
	raw, err := ask(ctx, conn)
	if err != nil {
		return nil, cli.Exit(fmt.Sprintf("node at %s: %v", nodeURL(c), err), 1)
	}
	return raw, nil
}

func networkCommand() *cli.Command {
	return &cli.Command{
		Name:  "network",
		Usage: "the peer network",
		Subcommands: []*cli.Command{{
			Name:  "peers",
			Usage: "peers the node is connected to: peer ID, address, models, load, latency",
			Flags: nodeClientFlags(),
			Action: func(c *cli.Context) error {
				raw, err := askNode(c, func(ctx context.Context, conn *peerproto.Conn) (json.RawMessage, error) { return conn.Peers(ctx) })
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(map[string]json.RawMessage{"peers": raw})
				}
				var list struct{ Peers []node.PeerEntry }
				if err := json.Unmarshal(raw, &list.Peers); err != nil {
					return cli.Exit(fmt.Sprintf("node at %s: peers_list: %v", nodeURL(c), err), 1)
				}
				tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "PEER\tADDRESS\tMODELS\tLOAD\tACCEPTING\tLATENCY")
				for _, p := range list.Peers {
					models := strings.Join(p.Models, ",")
					if models == "" {
						models = "-"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%v\t%.2f ms\n", p.PeerID, p.Addr, models, p.Load, p.Accepting, p.LatencyMS)
				}
				tw.Flush()
				if len(list.Peers) == 0 {
					fmt.Fprintln(os.Stderr, "no peers connected (start other nodes with --bootstrap, or on the same LAN with mDNS)")
				}
				return nil
			},
		}},
	}
}

// nodeStatusCommand is `aria node status`: the node's stats over the peer protocol.
func nodeStatusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "the running node's state over the peer protocol: models, slots, consent (accepting now, and why not), kernel, peers, energy",
		Flags: nodeClientFlags(),
		Action: func(c *cli.Context) error {
			raw, err := askNode(c, func(ctx context.Context, conn *peerproto.Conn) (json.RawMessage, error) { return conn.Stats(ctx) })
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(json.RawMessage(raw))
			}
			var st node.NodeStats
			if err := json.Unmarshal(raw, &st); err != nil {
				return cli.Exit(fmt.Sprintf("node at %s: stats: %v", nodeURL(c), err), 1)
			}
			printNodeStats(st)
			printEnergy(st.Energy)
			return nil
		},
	}
}
