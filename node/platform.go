package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/aria-node/aria/agents"
	"github.com/aria-node/aria/ares"
	"github.com/aria-node/aria/embedding"
	"github.com/aria-node/aria/rag"
	"github.com/aria-node/aria/storage/bolt"
	"github.com/aria-node/aria/storage/postgres"
	"github.com/aria-node/aria/tenancy"
)

// PlatformConfig configures the ARES platform layer on the API port.
type PlatformConfig struct {
	// Auth requires tenant keys on /v1/* and a JWT or key on /api/*. It is on whenever
	// the API binds a non-loopback address.
	Auth bool
	// DatabaseURL (postgres://…) keeps the platform in PostgreSQL, shared by gateways;
	// default: bbolt buckets in the data dir's aria.db.
	DatabaseURL string
	// IPRequestsPerMinute limits each client address on every route; 0 is no limit.
	IPRequestsPerMinute int
	// Node reports the node's models and subsystems to the admin API (set by the node).
	Node ares.NodeView
	// RAGEmbedder makes the vectors of RAG's semantic search (default: the lexical
	// embedder; a node passes its own, the loaded real model's); RAGReranker serves
	// rerank (nil: unsupported).
	RAGEmbedder embedding.Embedder
	RAGReranker rag.Reranker
	// AgentModel is what agents call (the providers registry); nil leaves ARES chat,
	// agents, workflows and research out.
	AgentModel agents.Model
	// Agents and Workflows are static definitions from the node's config file.
	Agents    []agents.Agent
	Workflows []agents.Workflow
}

// ragStore opens the RAG store next to the platform's.
func ragStore(store tenancy.Store, db *bbolt.DB) (rag.Store, error) {
	if pg, ok := store.(*postgres.Store); ok {
		return pg.RAG(), nil
	}
	return bolt.NewRAGStore(db)
}

// agentsStore opens the agents' store next to the platform's.
func agentsStore(store tenancy.Store, db *bbolt.DB) (agents.Store, error) {
	if pg, ok := store.(*postgres.Store); ok {
		return pg.AgentsStore(), nil
	}
	return bolt.NewAgentsStore(db)
}

// searchBackend is web_search's backend: ARIA_SEARCH_URL (a SearXNG-compatible JSON
// endpoint), else none (the tool tells the model search is not configured).
func searchBackend() agents.SearchBackend {
	if u := os.Getenv("ARIA_SEARCH_URL"); u != "" {
		return agents.HTTPSearch{URL: u}
	}
	return nil
}

// OpenPlatformStore opens the platform's store: PostgreSQL for a DATABASE_URL, else
// buckets in db (which the caller keeps owning).
func OpenPlatformStore(ctx context.Context, databaseURL string, db *bbolt.DB) (tenancy.Store, error) {
	if databaseURL != "" {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return postgres.Open(ctx, databaseURL)
	}
	return bolt.NewTenancyStore(db)
}

// AuthRequired reports whether an API bound to host must require keys.
func AuthRequired(auth bool, host string) bool {
	if auth {
		return true
	}
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// Platform is a running platform layer: the wrapper the API server takes, and the
// store behind it.
type Platform struct {
	Access func(http.Handler) http.Handler
	// RAG is the retrieval service behind /api/rag/* (agents retrieve through it).
	RAG *rag.Service
	// Agents is the agents service (nil without an AgentModel); the rag package installs
	// its Retriever on it.
	Agents *agents.Service
	store  tenancy.Store
	ownDB  *bbolt.DB // opened here (a stand-alone gateway's), closed by Close
}

// StartPlatform opens the platform's store (PostgreSQL for cfg.DatabaseURL, else buckets
// in db, or in dataDir/gateway.db when db is nil) and loads its secrets from the
// environment or generated 0600 files in dataDir (only paths are logged).
func StartPlatform(ctx context.Context, cfg PlatformConfig, dataDir, host string, db *bbolt.DB, log *slog.Logger) (*Platform, error) {
	admin, err := tenancy.LoadSecret(log, "admin secret", filepath.Join(dataDir, "admin.secret"), 16, "ARIA_ADMIN_SECRET", "API_KEY")
	if err != nil {
		return nil, err
	}
	jwt, err := tenancy.LoadSecret(log, "JWT secret", filepath.Join(dataDir, "jwt.secret"), 32, "ARIA_JWT_SECRET", "JWT_SECRET")
	if err != nil {
		return nil, err
	}
	p := &Platform{}
	if db == nil && cfg.DatabaseURL == "" {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, err
		}
		if p.ownDB, err = bolt.Open(ctx, filepath.Join(dataDir, GatewayDBFile)); err != nil {
			return nil, err
		}
		db = p.ownDB
	}
	if p.store, err = OpenPlatformStore(ctx, cfg.DatabaseURL, db); err != nil {
		p.Close()
		return nil, fmt.Errorf("platform store: %w", err)
	}
	required := AuthRequired(cfg.Auth, host)
	svc := tenancy.NewService(p.store, tenancy.Options{Logger: log, JWTSecret: []byte(jwt)})
	rs, err := ragStore(p.store, db)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("rag store: %w", err)
	}
	p.RAG = rag.New(rs, rag.Options{Embedder: cfg.RAGEmbedder, Reranker: cfg.RAGReranker, Logger: log})
	var ag *agents.Service
	if cfg.AgentModel != nil {
		st, err := agentsStore(p.store, db)
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("agents store: %w", err)
		}
		if ag, err = agents.New(agents.Options{Store: st, Model: cfg.AgentModel, Tools: agents.DefaultTools(searchBackend()),
			Agents: cfg.Agents, Workflows: cfg.Workflows, Logger: log, Retriever: ragRetriever{p.RAG}}); err != nil {
			p.Close()
			return nil, err
		}
	}
	p.Agents = ag
	p.Access = ares.New(ares.Config{Service: svc, Required: required, AdminSecret: admin, IPRequestsPerMinute: cfg.IPRequestsPerMinute, Logger: log, Agents: ag, RAG: p.RAG, Node: cfg.Node}).Wrap
	backend := "bbolt"
	if cfg.DatabaseURL != "" {
		backend = "postgresql"
	}
	log.Info("platform", "auth_required", required, "store", backend, "ip_requests_per_minute", cfg.IPRequestsPerMinute)
	return p, nil
}

// GatewayDBFile is a stand-alone gateway's platform database in its data dir (the
// node's aria.db is locked by the node).
const GatewayDBFile = "gateway.db"

// Close closes the store (and the gateway's own database).
func (p *Platform) Close() error {
	var errs []error
	if p.store != nil {
		errs = append(errs, p.store.Close())
	}
	if p.ownDB != nil {
		errs = append(errs, p.ownDB.Close())
	}
	return errors.Join(errs...)
}

// startPlatform starts the node's platform layer on its database.
func (n *Node) startPlatform(ctx context.Context) error {
	cfg := n.cfg.Platform
	cfg.Node = n
	if cfg.RAGEmbedder == nil {
		cfg.RAGEmbedder = nodeEmbedder{n}
	}
	if cfg.RAGReranker == nil {
		cfg.RAGReranker = modelReranker{n}
	}
	if cfg.AgentModel == nil && n.providers != nil {
		cfg.AgentModel = agents.RegistryModel{Registry: n.providers} // ARES agents call the node's providers
	}
	p, err := StartPlatform(ctx, cfg, n.cfg.DataDir, n.cfg.Host, n.db, n.log)
	if err != nil {
		return err
	}
	n.platform, n.access = p, p.Access
	return nil
}

func (n *Node) stopPlatform() error {
	if n.platform == nil {
		return nil
	}
	err := n.platform.Close()
	n.platform = nil
	return err
}

// accessLayer is what the API server wraps its routes with (nil: none).
func (n *Node) accessLayer() func(http.Handler) http.Handler { return n.access }
