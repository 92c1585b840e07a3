// Package gateway is the stand-alone OpenAI gateway (`aria api start`): the node's
// HTTP API served by another process, on this machine or another, for a node it
// reaches over the WebSocket peer protocol. It holds no engine and builds without cgo:
// it speaks to the node only through p2p/peerproto (one pooled connection, from
// p2p/peerlink) and p2p/peerinfer's converters, the same ones the node uses to forward
// work to its peers, and serves what it gets through openai.
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/openai"
	"github.com/aria-node/aria/p2p/peerinfer"
	"github.com/aria-node/aria/p2p/peerlink"
	"github.com/aria-node/aria/p2p/peerproto"
)

// Gateway is the stand-alone OpenAI gateway's view of a node it reaches over the
// WebSocket peer protocol (`aria api start`): the API's backend, node info and
// energy source. It keeps a connection to the node, redials it when it drops, and
// refreshes the node's stats; while the node is unreachable /health says so.
type Gateway struct {
	url     string
	token   string
	log     *slog.Logger
	every   time.Duration
	started time.Time

	pool      *peerlink.Pool // the one connection to the node
	mu        sync.Mutex
	stats     peerinfer.Stats
	reachable bool
	lastErr   error

	kick chan struct{} // asks the watcher for a refresh now (a lost connection)
	stop context.CancelFunc
	done chan struct{}
}

// Config configures a Gateway.
type Config struct {
	URL     string        // ws://host:port of the node
	Refresh time.Duration // how often stats are fetched (and a lost node redialled); default 2s
	Logger  *slog.Logger
	// OwnerToken is the node's owner token (node.ReadOwnerToken). Without it the node
	// treats every request from the gateway as remote work under its consent
	// contract. With it, requests from the gateway's loopback clients are the
	// owner's; clients from other machines (or marked remote) stay remote.
	OwnerToken string
}

var (
	_ openai.Backend      = (*Gateway)(nil)
	_ openai.NodeInfo     = (*Gateway)(nil)
	_ openai.Reachability = (*Gateway)(nil)
	_ openai.EnergySource = (*Gateway)(nil)
	_ openai.StatusSource = (*Gateway)(nil)

	_ openai.EmbeddingBackend = (*Gateway)(nil)
)

// New starts watching the node at cfg.URL. It does not fail when the node is down:
// the gateway serves /health as degraded until it comes up.
func New(ctx context.Context, cfg Config) *Gateway {
	if cfg.Refresh <= 0 {
		cfg.Refresh = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	g := &Gateway{url: cfg.URL, token: cfg.OwnerToken, log: cfg.Logger, every: cfg.Refresh, started: time.Now(), done: make(chan struct{}), kick: make(chan struct{}, 1)}
	wctx, cancel := context.WithCancel(context.Background())
	g.stop = cancel
	g.pool = peerlink.New(func(ctx context.Context, url, _ string) (*peerproto.Conn, error) {
		return peerproto.Dial(ctx, url, peerproto.DialOptions{Logger: g.log, OwnerToken: g.token})
	}, 0)
	g.refresh(ctx)
	go g.watch(wctx)
	return g
}

// Server is the OpenAI-compatible API for the node: cfg with the gateway as its
// backend, node information and energy source.
func (g *Gateway) Server(cfg openai.Config) *openai.Server {
	cfg.Backend, cfg.Node, cfg.Energy = g, g, g
	return openai.NewServer(cfg)
}

// Close stops watching and closes the connection.
func (g *Gateway) Close() {
	g.stop()
	<-g.done
	g.pool.Close()
}

func (g *Gateway) watch(ctx context.Context) {
	defer close(g.done)
	t := time.NewTicker(g.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.refresh(ctx)
		case <-g.kick:
			g.refresh(ctx)
		}
	}
}

// refresh fetches the node's stats, dialling it first if needed.
func (g *Gateway) refresh(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, g.every+3*time.Second)
	defer cancel()
	c, err := g.connection(rctx)
	if err == nil {
		var raw json.RawMessage
		raw, err = c.Stats(rctx)
		if err == nil {
			var st peerinfer.Stats
			if err = json.Unmarshal(raw, &st); err == nil {
				g.mu.Lock()
				if !g.reachable {
					g.log.Info("node reachable", "url", g.url, "node_id", st.NodeID)
				}
				g.stats, g.reachable, g.lastErr = st, true, nil
				g.mu.Unlock()
				return
			}
		}
		g.dropConn(c)
	}
	g.mu.Lock()
	if g.reachable || g.lastErr == nil {
		g.log.Warn("node unreachable", "url", g.url, "err", err)
	}
	g.reachable, g.lastErr = false, err
	g.mu.Unlock()
}

func (g *Gateway) connection(ctx context.Context) (*peerproto.Conn, error) {
	return g.pool.Get(ctx, g.url, "")
}

func (g *Gateway) dropConn(c *peerproto.Conn) { g.pool.Drop(g.url, c) }

// failed drops c when a request over it found the connection lost, and asks the
// watcher to redial and refresh the node's stats now.
func (g *Gateway) failed(c *peerproto.Conn, err error) {
	if !errors.Is(err, peerproto.ErrConnLost) {
		return
	}
	g.dropConn(c)
	select {
	case g.kick <- struct{}{}:
	default: // a refresh is already asked for
	}
}

func (g *Gateway) snapshot() (peerinfer.Stats, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stats, g.reachable
}

// Models are the node's models, as of the last refresh (none while unreachable).
func (g *Gateway) Models() []inference.ModelInfo {
	st, ok := g.snapshot()
	if !ok {
		return nil
	}
	return st.Models
}

// Stats are the node's slots, as of the last refresh.
func (g *Gateway) Stats() inference.Stats {
	st, _ := g.snapshot()
	return st.Slots
}

// Generate runs req on the node.
func (g *Gateway) Generate(ctx context.Context, req inference.Request, onToken func(inference.Token) error) (inference.Result, error) {
	c, err := g.connection(ctx)
	if err != nil {
		return inference.Result{}, fmt.Errorf("%w: node %s unreachable: %v", inference.ErrKernelUnavailable, g.url, err)
	}
	res, err := peerinfer.Infer(ctx, c, req, 0, onToken)
	if err != nil {
		g.failed(c, err)
		return res, peerinfer.FromError(err)
	}
	return res, nil
}

// NodeID is the node's peer ID.
func (g *Gateway) NodeID() string {
	st, _ := g.snapshot()
	return st.NodeID
}

// NodeURI is the node's WebSocket address.
func (g *Gateway) NodeURI() string { return g.url }

// Uptime is the node's uptime.
func (g *Gateway) Uptime() time.Duration {
	st, _ := g.snapshot()
	return time.Duration(st.UptimeSeconds * float64(time.Second))
}

// Running reports whether the node answers.
func (g *Gateway) Running() bool { return g.Reachable() }

// Reachable reports whether the last refresh reached the node.
func (g *Gateway) Reachable() bool {
	_, ok := g.snapshot()
	return ok
}

// KernelPath is unknown from a distance: the kernel runs in the node's process.
func (g *Gateway) KernelPath() string { return "" }

// Energy is the node's energy report.
func (g *Gateway) Energy() openai.Energy {
	st, _ := g.snapshot()
	return st.Energy
}

// ConsentStatus is the node's contract and acceptance.
func (g *Gateway) ConsentStatus() openai.ConsentStatus {
	st, _ := g.snapshot()
	return st.Consent
}

// KernelSettings are the node's threads and duty cycle.
func (g *Gateway) KernelSettings() (int, float64) {
	st, _ := g.snapshot()
	return st.Threads, st.DutyCycle
}

// OwnerThreads are the threads the node gives its owner's requests.
func (g *Gateway) OwnerThreads() int {
	st, _ := g.snapshot()
	return st.OwnerThreads
}

// Embed computes embeddings on the node over the peer protocol.
func (g *Gateway) Embed(ctx context.Context, req inference.EmbedRequest) (inference.EmbedResult, error) {
	c, err := g.connection(ctx)
	if err != nil {
		return inference.EmbedResult{}, fmt.Errorf("%w: node %s unreachable: %v", inference.ErrKernelUnavailable, g.url, err)
	}
	res, err := peerinfer.Embed(ctx, c, req, 0)
	if err != nil {
		g.failed(c, err)
		return res, peerinfer.FromError(err)
	}
	return res, nil
}
