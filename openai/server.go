package openai

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aria-node/aria/inference"
)

// Backend generates text. The node implements it: locally, or through a peer.
type Backend interface {
	Models() []inference.ModelInfo
	Generate(ctx context.Context, req inference.Request, onToken func(inference.Token) error) (inference.Result, error)
	Stats() inference.Stats
}

// NodeInfo describes the node behind the API, for /health and /v1/status.
type NodeInfo interface {
	NodeID() string
	NodeURI() string // ws://host:port of the node's peer protocol
	Uptime() time.Duration
	Running() bool
	KernelPath() string // executable containing the native kernel; "" when unavailable
}

// RemoteModelSource is a Backend that also serves models through peers: /v1/models
// lists them with aria.remote true, and chat accepts them.
type RemoteModelSource interface {
	RemoteModels() []inference.ModelInfo
}

// Reachability is a NodeInfo for a node behind a connection (the stand-alone
// gateway): while it is unreachable /health is 503 with node.status "unreachable".
type Reachability interface {
	Reachable() bool
}

// StatusSource adds the node's consent and kernel settings to /v1/status.
type StatusSource interface {
	ConsentStatus() ConsentStatus
	KernelSettings() (threads int, dutyCycle float64)
}

// EnergySource reports /v1/energy.
type EnergySource interface {
	Energy() Energy
}

// Config configures a Server.
type Config struct {
	Backend      Backend
	Node         NodeInfo
	Energy       EnergySource
	Chat         ChatHook   // optional: admission and intentions around each chat request
	Intentions   Intentions // optional: the /v1/intentions API
	Version      string
	MaxBodyBytes int64 // default 4 MiB
	Logger       *slog.Logger
	Registry     *prometheus.Registry // default: a new registry with Go and process collectors
	Access       Access               // browser origins and Host names allowed (default: own and localhost only)
	Timeouts     Timeouts             // HTTP deadlines (default: header 10 s, body 30 s, idle 60 s, each write 30 s)
	// Platform, when set, wraps the routes: the platform layer (ARES endpoints, API
	// keys, quotas and metering) sees every request before the OpenAI handlers do.
	Platform func(next http.Handler) http.Handler
	// Upstream, when set, serves the models of configured providers, tiers and
	// aliases (upstream.go).
	Upstream Upstream
	// UI, when set, serves GET and HEAD of / and /ui/… (the dashboard); every other
	// unknown path still gets the JSON 404.
	UI http.Handler
}

// Server is the OpenAI-compatible HTTP API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	handler http.Handler
	inner   http.Handler // routes without platform and guard (Inner)
	started time.Time
	srv     *http.Server
}

// NewServer builds the API. It does not listen until Serve.
func NewServer(cfg Config) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 4 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Timeouts = cfg.Timeouts.withDefaults()
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
		cfg.Registry.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	}
	s := &Server{cfg: cfg, log: cfg.Logger, started: time.Now()}
	s.metrics = newMetrics(cfg.Registry, cfg.Backend)
	s.handler = s.routes()
	// Built here, not in Serve, so a Shutdown that comes first still stops a later Serve.
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: cfg.Timeouts.Header,
		IdleTimeout:       cfg.Timeouts.Idle,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return s
}

// Handler is the API's http.Handler (CORS, body limits, metrics and routing included).
func (s *Server) Handler() http.Handler { return s.handler }

type route struct {
	pattern string // mux pattern without method
	methods map[string]http.HandlerFunc
}

// routeTable is every route the API serves, with its methods' handlers.
func (s *Server) routeTable() []route {
	routes := []route{
		{"/v1/chat/completions", map[string]http.HandlerFunc{"POST": s.handleChat}},
		{"/v1/completions", map[string]http.HandlerFunc{"POST": s.handleCompletions}},
		{"/v1/embeddings", map[string]http.HandlerFunc{"POST": s.handleEmbeddings}},
		{"/v1/responses", map[string]http.HandlerFunc{"POST": s.handleResponses}},
		{"/v1/models", map[string]http.HandlerFunc{"GET": s.handleModels}},
		{"/v1/models/{id...}", map[string]http.HandlerFunc{"GET": s.handleModel}},
		{"/v1/status", map[string]http.HandlerFunc{"GET": s.handleStatus}},
		{"/v1/energy", map[string]http.HandlerFunc{"GET": s.handleEnergy}},
		{"/health", map[string]http.HandlerFunc{"GET": s.handleHealth}},
		{"/v1/health", map[string]http.HandlerFunc{"GET": s.handleHealth}},
		{"/v1/intentions", map[string]http.HandlerFunc{"GET": s.handleIntentionList, "POST": s.handleIntentionCreate}},
		{"/v1/intentions/{id}", map[string]http.HandlerFunc{"GET": s.handleIntentionGet, "PATCH": s.handleIntentionPatch, "DELETE": s.handleIntentionDelete}},
		{"/v1/intentions/{id}/fire", map[string]http.HandlerFunc{"POST": s.handleIntentionFire}},
		{"/metrics", map[string]http.HandlerFunc{"GET": promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{}).ServeHTTP}},
	}
	return append(routes, s.nodeRoutes()...)
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routeTable() {
		var allow []string
		for m := range rt.methods {
			allow = append(allow, m)
			if m == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
		sort.Strings(allow)
		allowHeader := strings.Join(append(allow, "OPTIONS"), ", ")
		endpoint := strings.TrimSuffix(rt.pattern, "/{id...}")
		if endpoint != rt.pattern {
			endpoint += "/{id}"
		}
		methods := rt.methods
		mux.Handle(rt.pattern, s.metrics.instrument(endpoint, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h, ok := methods[r.Method]
			if !ok && r.Method == http.MethodHead {
				h, ok = methods[http.MethodGet]
			}
			if !ok {
				w.Header().Set("Allow", allowHeader)
				writeError(w, methodNotAllowed(r.Method, r.URL.Path))
				return
			}
			h(w, r)
		})))
	}
	mux.Handle("/", s.metrics.instrument("other", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.UI != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
			(r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, "/ui/")) {
			s.cfg.UI.ServeHTTP(w, r)
			return
		}
		writeError(w, notFound())
	})))
	var h http.Handler = mux
	s.inner = s.recoverer(mux)
	if s.cfg.Platform != nil {
		h = s.cfg.Platform(mux)
	}
	return s.guard(s.recoverer(h))
}

// recoverer turns a handler panic into a 500 instead of a dropped connection.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panic", "path", r.URL.Path, "panic", v)
				writeError(w, &APIError{Status: 500, Type: TypeServer, Code: "internal_error", Message: "internal server error"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// decodeRequest reads the request's JSON body into v for every endpoint that takes
// one, so a bad body gets one answer everywhere: over MaxBodyBytes is 413
// request_too_large, anything else decodeBody refuses is a 400 invalid_request naming
// the problem, both in the API's error shape. On false the error is written.
func (s *Server) decodeRequest(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	var apiErr *APIError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		apiErr = tooLarge(s.cfg.MaxBodyBytes)
	case err != nil:
		apiErr = invalidRequest("cannot read body: %v", err)
	default:
		// The body is in: the rest of the exchange (a stream, say) is bounded by the
		// per-write deadlines instead.
		_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
		apiErr = decodeBody(body, v)
	}
	if apiErr != nil {
		writeError(w, apiErr)
		return false
	}
	return true
}

// Serve serves on ln until Shutdown (at once if Shutdown came first).
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits for in-flight requests (streams
// included) until ctx ends; then it closes what remains.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	return err
}

func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return "chatcmpl-aria-" + hex.EncodeToString(b[:])
}
