// Package node is a running aria node: its configuration, lifecycle (Start, Shutdown)
// and the router that decides where a request runs. It wires the inference engine and
// the servers together but speaks no protocol itself.
package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aria-node/aria/inference"
)

// Version is the node's software version.
const Version = "0.1.0"

// Config is a node's configuration. Zero values take documented defaults.
type Config struct {
	DataDir  string   // default ~/.aria (ARIA_HOME)
	Models   []string // paths, names in the data dir, or synthetic shapes; default: tiny
	Engine   inference.Options
	Progress io.Writer // where model synthesis reports progress; default stderr
	Logger   *slog.Logger
}

// DefaultDataDir is $ARIA_HOME or ~/.aria.
func DefaultDataDir() string {
	if d := os.Getenv("ARIA_HOME"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".aria"
	}
	return filepath.Join(home, ".aria")
}

// Node is a running node.
type Node struct {
	cfg     Config
	log     *slog.Logger
	engine  *inference.LocalEngine
	started time.Time

	mu       sync.Mutex
	loadErrs []error
}

// New prepares a node; Start brings it up.
func New(cfg Config) *Node {
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir()
	}
	if len(cfg.Models) == 0 {
		cfg.Models = []string{DefaultModel}
	}
	if cfg.Progress == nil {
		cfg.Progress = os.Stderr
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Node{cfg: cfg, log: cfg.Logger}
}

// Start creates the data dir and loads the models. A model that fails to load is
// logged and reported by LoadErrors; the node still runs (and says it is degraded) so
// its owner can see why. Start fails only when nothing can run at all.
func (n *Node) Start(ctx context.Context) error {
	if err := os.MkdirAll(n.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	n.started = time.Now()
	n.engine = inference.NewLocal(n.cfg.Engine)
	for _, spec := range n.cfg.Models {
		path, err := ResolveModel(ctx, n.cfg.DataDir, spec, n.cfg.Progress)
		if err == nil {
			_, err = n.engine.Load(ctx, path, inference.LoadOptions{})
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			n.log.Error("model not served", "model", spec, "err", err)
			n.mu.Lock()
			n.loadErrs = append(n.loadErrs, fmt.Errorf("model %s: %w", spec, err))
			n.mu.Unlock()
		}
	}
	if len(n.engine.Models()) == 0 {
		n.log.Warn("no model loaded: chat requests will fail with 503 until one is")
	}
	return nil
}

// Engine is the node's local inference engine.
func (n *Node) Engine() *inference.LocalEngine { return n.engine }

// LoadErrors reports models given at start that are not being served, and why.
func (n *Node) LoadErrors() []error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]error(nil), n.loadErrs...)
}

// Uptime is the time since Start.
func (n *Node) Uptime() time.Duration { return time.Since(n.started) }

// Shutdown stops the node: running generations end with an error, models are freed.
func (n *Node) Shutdown(ctx context.Context) error {
	if n.engine == nil {
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- n.engine.Close() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return errors.Join(ctx.Err(), errors.New("engine did not stop in time"))
	}
}
