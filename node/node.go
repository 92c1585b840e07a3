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
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	bolt "go.etcd.io/bbolt"

	"github.com/aria-node/aria/consent"
	"github.com/aria-node/aria/dashboard"
	"github.com/aria-node/aria/energy"
	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/inference/local"
	"github.com/aria-node/aria/intentions"
	"github.com/aria-node/aria/openai"
	"github.com/aria-node/aria/p2p"
	"github.com/aria-node/aria/p2p/peerlink"
	"github.com/aria-node/aria/p2p/peerproto"
	"github.com/aria-node/aria/providers"
)

// Version is the node's software version.
const Version = "0.1.0"

// Config is a node's configuration. Zero values take documented defaults.
type Config struct {
	DataDir  string   // default ~/.aria (ARIA_HOME)
	Models   []string // paths, names in the data dir, or synthetic shapes; default: tiny; NoModel: none (route only)
	Engine   local.Options
	Host     string    // HTTP API bind address; default 127.0.0.1
	APIPort  int       // HTTP API port; default 3000; -1 disables the API
	Port     int       // WebSocket peer protocol port; default 8765
	Progress io.Writer // where model synthesis reports progress; default stderr
	Logger   *slog.Logger

	EnergyMeter      energy.MeterOptions // default: RAPL when readable, else CPU time × 10 W per core
	EnergyReferences *energy.References  // default energy.DefaultReferences()

	// Consent is the owner's contract (default consent.Default()). Its cpu_percent
	// sets the threads and duty cycle of work done for others (Engine.Remote; the
	// owner's requests use Engine.Threads, default every core), and its max_ram_mb
	// the engine's memory budget.
	Consent *consent.Contract
	// Intentions tunes the intentions store (embedder, threshold, clock); the node
	// picks the embedder when none is given.
	Intentions intentions.Options
	// Now is the node's clock (tests move it); default time.Now.
	Now func() time.Time
	// Peers configures the peer network (libp2p discovery and the WebSocket protocol).
	Peers PeerConfig
	// CORSOrigins widens the browser origins allowed to use the API (default: the
	// node's own and localhost origins; "*" any, unsafe); AllowedHosts the Host names
	// a loopback-bound API answers. See openai.Access.
	CORSOrigins  []string
	AllowedHosts []string
	// Platform configures the ARES platform layer (keys, quotas, metering).
	Platform PlatformConfig
	// Providers are the config file's upstream providers and models (providers.go).
	Providers providers.Config
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
	cfg         Config
	log         *slog.Logger
	engine      *local.Engine
	started     time.Time
	id          peer.ID
	ownerToken  string // see OwnerTokenFile
	db          *bolt.DB
	energy      *energy.Tracker
	meterNote   string
	admission   *consent.Admission
	intents     *intentions.Store
	stopIntents context.CancelFunc
	intentsDone chan struct{}

	recMu sync.Mutex
	rec   Record

	host        *p2p.Host
	ws          *peerproto.Server
	wsLn        net.Listener
	wsDone      chan error
	wsURL       string
	links       *peerlink.Pool
	stopPublish context.CancelFunc
	publishDone chan struct{}
	remoteMu    sync.Mutex
	remote      []inference.ModelInfo
	router      *router         // where requests run; see router.go
	bgCtx       context.Context // background work of the peer network (provider refreshes, model files)
	bgStop      context.CancelFunc
	bg          sync.WaitGroup

	platform  *Platform
	access    func(http.Handler) http.Handler
	providers *providers.Registry
	apiInner  http.Handler // the API without its platform layer: the built-in providers' transport

	api     *openai.Server
	apiLn   net.Listener
	apiDone chan error
	running bool

	mu       sync.Mutex
	loadErrs []error
	pullMu   sync.Mutex // one model pull through the API at a time
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
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.APIPort == 0 {
		cfg.APIPort = 3000
	}
	if cfg.Port == 0 {
		cfg.Port = 8765
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Consent == nil {
		c := consent.Default()
		cfg.Consent = &c
	}
	if cfg.EnergyReferences == nil {
		r := energy.DefaultReferences()
		cfg.EnergyReferences = &r
	}
	n := &Node{cfg: cfg, log: cfg.Logger}
	n.router = newRouter(n, cfg.Logger)
	return n
}

// Start creates the data dir and loads the models. A model that fails to load is
// logged and reported by LoadErrors; the node still runs (and says it is degraded) so
// its owner can see why. Start fails only when nothing can run at all.
func (n *Node) Start(ctx context.Context) (err error) {
	// undo holds what to release if Start fails, in the order it was acquired; one
	// deferred unwind runs it backwards.
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	if err := os.MkdirAll(n.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if err := n.cfg.Consent.Validate(); err != nil {
		return err
	}
	n.admission = consent.NewAdmission(*n.cfg.Consent, n.cfg.Now)
	// The owner's requests use every thread (or --threads); the contract's cpu_percent
	// is the share of work done for others, never more threads than the owner's.
	cores := runtime.NumCPU()
	if n.cfg.Engine.Threads <= 0 {
		n.cfg.Engine.Threads = cores
	}
	share, _ := n.cfg.Consent.Threads(cores, 0)
	threads, duty := n.cfg.Consent.Threads(cores, min(share, n.cfg.Engine.Threads))
	n.cfg.Engine.Remote = local.Share{Threads: threads, Duty: duty}
	if b := n.cfg.Consent.RAMLimitBytes(); b > 0 {
		n.cfg.Engine.MemoryBudget = uint64(b)
	}
	key, id, err := LoadIdentity(n.cfg.DataDir)
	if err != nil {
		return err
	}
	n.id = id
	if n.ownerToken, err = loadOwnerToken(n.cfg.DataDir); err != nil {
		return err
	}
	n.started = time.Now()
	if err := n.openState(); err != nil {
		return err
	}
	undo = append(undo, func() { n.closeState() })
	if err := n.startProviders(); err != nil {
		return err
	}
	if err := n.startPlatform(ctx); err != nil {
		return err
	}
	// Bind the API port first: a port in use is an error before minutes of model loading.
	if n.cfg.APIPort > 0 {
		addr := net.JoinHostPort(n.cfg.Host, strconv.Itoa(n.cfg.APIPort))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("HTTP API: %w", err)
		}
		n.apiLn = ln
		undo = append(undo, n.apiLnClose)
	}
	if err := n.bindPeerPort(); err != nil {
		return err
	}
	undo = append(undo, func() { n.stopNetwork(context.Background()) })
	n.engine = local.New(n.cfg.Engine)
	undo = append(undo, func() { n.engine.Close() })
	for _, spec := range n.cfg.Models {
		if spec == NoModel {
			continue
		}
		path, err := ResolveModel(ctx, n.cfg.DataDir, spec, n.cfg.Progress)
		if err == nil {
			_, err = n.engine.Load(ctx, path, local.LoadOptions{})
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
	if len(n.engine.Models()) == 0 && !slices.Contains(n.cfg.Models, NoModel) {
		n.log.Warn("no model loaded: chat requests will be served by peers, or fail with 503 if none can")
	}
	if err := n.startIntentions(); err != nil {
		return err
	}
	undo = append(undo, n.stopIntentions)
	if err := n.startNetwork(ctx, key); err != nil {
		return err
	}
	n.log.Info("consent contract", "cpu_percent", n.cfg.Consent.CPUPercent, "owner_threads", n.cfg.Engine.Threads, "remote_threads", threads, "remote_duty_cycle", duty,
		"max_concurrent_tasks", n.cfg.Consent.MaxConcurrentTasks, "schedule", n.cfg.Consent.Schedule, "task_types", n.cfg.Consent.TaskTypes)
	n.mu.Lock()
	n.running = true
	n.mu.Unlock()
	if n.apiLn != nil {
		n.api = openai.NewServer(n.apiConfig())
		n.apiInner = n.api.Inner()
		n.apiDone = make(chan error, 1)
		go func() { n.apiDone <- n.api.Serve(n.apiLn) }()
		n.log.Info("OpenAI-compatible API listening", "url", "http://"+n.apiLn.Addr().String()+"/v1")
	}
	return nil
}

// APIAddr is the HTTP API's listening address, or "" without an API.
func (n *Node) APIAddr() string {
	if n.apiLn == nil {
		return ""
	}
	return n.apiLn.Addr().String()
}

// ID is the node's libp2p peer ID.
func (n *Node) ID() peer.ID { return n.id }

// Engine is the node's local inference engine.
func (n *Node) Engine() *local.Engine { return n.engine }

// LoadErrors reports models given at start that are not being served, and why.
func (n *Node) LoadErrors() []error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]error(nil), n.loadErrs...)
}

// Uptime is the time since Start.
func (n *Node) Uptime() time.Duration { return time.Since(n.started) }

// Shutdown stops the node gracefully: the API stops accepting and drains in-flight
// requests until ctx ends, then the engine stops and models are freed.
func (n *Node) Shutdown(ctx context.Context) error {
	n.mu.Lock()
	n.running = false
	n.mu.Unlock()
	var errs []error
	if n.api != nil {
		if err := n.api.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("HTTP API: %w", err))
		}
		<-n.apiDone
	} else if n.apiLn != nil {
		n.apiLn.Close()
	}
	if err := n.stopNetwork(ctx); err != nil {
		errs = append(errs, err)
	}
	if n.engine == nil {
		n.stopIntentions()
		return errors.Join(append(errs, n.closeState())...)
	}
	done := make(chan error, 1)
	go func() { done <- n.engine.Close() }()
	select {
	case err := <-done:
		errs = append(errs, err)
	case <-ctx.Done():
		errs = append(errs, ctx.Err(), errors.New("engine did not stop in time"))
	}
	n.stopIntentions()
	// Last: requests still draining above record their energy in the database.
	if err := n.closeState(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// apiConfig is how the node serves the OpenAI-compatible API.
func (n *Node) apiConfig() openai.Config {
	port := 0
	if n.apiLn != nil {
		port = n.apiLn.Addr().(*net.TCPAddr).Port
	}
	return openai.Config{Backend: n, Node: n, Energy: n, Chat: n, Intentions: n.intents, Version: Version, Logger: n.log,
		Access:   openai.Access{BindHost: n.cfg.Host, Port: port, Origins: n.cfg.CORSOrigins, Hosts: n.cfg.AllowedHosts},
		Platform: n.accessLayer(), UI: dashboard.Handler(), Upstream: upstream{n}}
}

func (n *Node) apiLnClose() {
	if n.apiLn != nil {
		n.apiLn.Close()
	}
}

// startIntentions opens the intentions store and starts its scheduler, which fires
// time intentions (also those that came due while the node was down).
func (n *Node) startIntentions() error {
	opts := n.cfg.Intentions
	if opts.Now == nil {
		opts.Now = n.cfg.Now
	}
	if opts.Logger == nil {
		opts.Logger = n.log
	}
	if opts.Embedder == nil {
		opts.Embedder = n.chooseEmbedder()
	}
	st, err := intentions.Open(n.db, opts)
	if err != nil {
		return fmt.Errorf("intentions: %w", err)
	}
	n.log.Info("intentions", "embedder", opts.Embedder.Name())
	ctx, cancel := context.WithCancel(context.Background())
	n.intents, n.stopIntents, n.intentsDone = st, cancel, make(chan struct{})
	go func() {
		defer close(n.intentsDone)
		if err := st.Run(ctx); err != nil && ctx.Err() == nil {
			n.log.Error("intentions scheduler stopped", "err", err)
		}
	}()
	return nil
}

func (n *Node) stopIntentions() {
	if n.stopIntents != nil {
		n.stopIntents()
		<-n.intentsDone
		n.stopIntents = nil
	}
}

// openState opens the node's database and what lives in it.
func (n *Node) openState() error {
	db, err := openDB(n.cfg.DataDir)
	if err != nil {
		return err
	}
	ledger, err := energy.OpenLedger(db)
	if err != nil {
		db.Close()
		return err
	}
	counter, note, err := energy.NewCounter(n.cfg.EnergyMeter)
	if err != nil {
		db.Close()
		return fmt.Errorf("energy meter: %w", err)
	}
	if note != "" {
		n.log.Info("energy meter", "method", counter.Method(), "note", note)
	} else {
		n.log.Info("energy meter", "method", counter.Method())
	}
	n.db, n.meterNote = db, note
	n.energy = energy.NewTracker(energy.NewMeter(counter), ledger, *n.cfg.EnergyReferences)
	return nil
}

// closeState flushes and closes the database (idempotent).
func (n *Node) closeState() error {
	perr := n.stopPlatform()
	n.mu.Lock()
	db := n.db
	n.db = nil
	n.mu.Unlock()
	if db == nil {
		return perr
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	return perr
}
