// Package ares is the ARES platform's HTTP surface on a node: the admin, auth and
// self-service endpoints, and the access layer (API keys, JWTs, quotas, exact usage
// metering) in front of the OpenAI-compatible endpoints on the same port.
package ares

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aria-node/aria/agents"
	"github.com/aria-node/aria/rag"
	"github.com/aria-node/aria/tenancy"
)

// Config configures a Platform.
type Config struct {
	Service *tenancy.Service
	// Required turns auth on: every /v1/* call needs a tenant key and /api/* a JWT or a
	// key. Off (a loopback node), calls without a key pass unmetered; a valid key is
	// still metered.
	Required    bool
	AdminSecret string
	// IPRequestsPerMinute limits every route per client address; 0 is no limit.
	IPRequestsPerMinute int
	Logger              *slog.Logger
	// Node reports the node's models and subsystems to /api/admin/models and
	// /api/admin/services (nodeadmin.go); nil lists none.
	Node NodeView
	// RAG serves /api/rag/*; nil leaves those routes out (404, as on an ARES build
	// without the ares-vector feature).
	RAG *rag.Service
	// Agents serves chat, agents, conversations, workflows, research and memory; nil
	// leaves those routes out.
	Agents *agents.Service
	// KeepAlive is the interval of SSE keep-alive comments on chat streams (15 s).
	KeepAlive time.Duration
}

// Platform serves the ARES endpoints and wraps the OpenAI ones.
type Platform struct {
	cfg       Config
	svc       *tenancy.Service
	log       *slog.Logger
	ip        *ipLimiter
	ag        *agents.Service
	keepAlive time.Duration
}

// New builds the platform layer.
func New(cfg Config) *Platform {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 15 * time.Second
	}
	p := &Platform{cfg: cfg, svc: cfg.Service, log: cfg.Logger, ag: cfg.Agents, keepAlive: cfg.KeepAlive}
	if cfg.IPRequestsPerMinute > 0 {
		p.ip = &ipLimiter{limit: cfg.IPRequestsPerMinute, now: cfg.Service.Now, seen: map[string]*ipBucket{}}
	}
	return p
}

type route struct {
	pattern string
	methods map[string]http.HandlerFunc
}

// Wrap returns the node's handler: ARES endpoints served here, everything else passed to
// next (the OpenAI server's routes) behind the access layer.
func (p *Platform) Wrap(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	admin := []route{
		{"/api/admin/tenants", map[string]http.HandlerFunc{"GET": p.listTenants, "POST": p.createTenant}},
		{"/api/admin/tenants/{id}", map[string]http.HandlerFunc{"GET": p.getTenant}},
		{"/api/admin/tenants/{id}/quota", map[string]http.HandlerFunc{"PUT": p.setQuota}},
		{"/api/admin/tenants/{id}/api-keys", map[string]http.HandlerFunc{"GET": p.adminListKeys, "POST": p.adminCreateKey}},
		{"/api/admin/tenants/{id}/api-keys/{key}", map[string]http.HandlerFunc{"DELETE": p.adminRevokeKey}},
		{"/api/admin/tenants/{id}/usage", map[string]http.HandlerFunc{"GET": p.adminUsage}},
		{"/api/admin/tenants/{id}/usage/daily", map[string]http.HandlerFunc{"GET": p.adminDailyUsage}},
		{"/api/admin/provision-client", map[string]http.HandlerFunc{"POST": p.provision}},
		{"/api/admin/agent-templates", map[string]http.HandlerFunc{"GET": p.templates}},
		{"/api/admin/stats", map[string]http.HandlerFunc{"GET": p.stats}},
		{"/api/admin/audit-log", map[string]http.HandlerFunc{"GET": p.auditLog}},
		{"/api/admin/alerts", map[string]http.HandlerFunc{"GET": p.alerts}},
		{"/api/admin/alerts/{id}/resolve", map[string]http.HandlerFunc{"POST": p.resolveAlert}},
	}
	admin = append(admin, p.nodeAdminRoutes()...)
	if p.ag != nil {
		admin = append(admin, p.agentAdminRoutes()...)
	}
	for _, rt := range admin {
		mux.Handle(rt.pattern, p.requireAdmin(dispatch(rt.methods)))
	}
	mux.Handle("/api/admin/", p.requireAdmin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeARES(w, http.StatusNotFound, "NOT_FOUND", "Not found: "+r.URL.Path)
	})))
	for _, rt := range []route{
		{"/api/auth/register", map[string]http.HandlerFunc{"POST": p.register}},
		{"/api/auth/login", map[string]http.HandlerFunc{"POST": p.login}},
		{"/api/auth/refresh", map[string]http.HandlerFunc{"POST": p.refresh}},
		{"/api/auth/logout", map[string]http.HandlerFunc{"POST": p.logout}},
	} {
		mux.Handle(rt.pattern, dispatch(rt.methods))
	}
	mux.Handle("/api/auth/me", p.requireSession(dispatch(map[string]http.HandlerFunc{"GET": p.me})))
	// Self-service endpoints: metered as api calls, never refused by a quota, so a tenant
	// can always see its usage and manage its keys.
	for _, rt := range []route{
		{"/v1/api-keys", map[string]http.HandlerFunc{"GET": p.listKeys, "POST": p.createKey}},
		{"/v1/api-keys/{id}", map[string]http.HandlerFunc{"DELETE": p.revokeKey}},
		{"/v1/usage", map[string]http.HandlerFunc{"GET": p.usage}},
	} {
		mux.Handle(rt.pattern, p.meter(dispatch(rt.methods), shapeARES, false))
	}
	if p.cfg.RAG != nil {
		p.ragRoutes(mux)
	}
	// The model store changes what the node runs and writes to its disk: with auth on it
	// takes the admin secret, not a tenant key (open mode: the loopback owner).
	storeRoutes := next
	if p.cfg.Required {
		storeRoutes = p.requireAdmin(next)
	}
	mux.Handle("/v1/model-store", storeRoutes)
	mux.Handle("/v1/model-store/", storeRoutes)
	if p.ag != nil {
		p.agentRoutes(mux)
	}
	mux.Handle("/api/", p.session(next))
	mux.Handle("/v1/", p.meter(next, shapeOpenAI, true))
	mux.Handle("/", next)
	if p.ip == nil {
		return mux
	}
	return p.limitIP(mux)
}

// dispatch picks the handler by method; others are 405 in the ARES shape.
func dispatch(methods map[string]http.HandlerFunc) http.Handler {
	var allow []string
	for m := range methods {
		allow = append(allow, m)
	}
	sort.Strings(allow)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := methods[r.Method]
		if !ok && r.Method == http.MethodHead {
			h, ok = methods[http.MethodGet]
		}
		if !ok {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeARES(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "Method "+r.Method+" not allowed on "+r.URL.Path)
			return
		}
		h(w, r)
	})
}

// Error shapes: ARES endpoints answer {"error", "code"}; the OpenAI ones keep OpenAI's.
type shape int

const (
	shapeARES shape = iota
	shapeOpenAI
)

type aresError struct {
	Error      string `json:"error"`
	Code       string `json:"code"`
	RetryAfter int    `json:"retry_after,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeARES(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, aresError{Error: msg, Code: code})
}

type openaiError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    string  `json:"code"`
	} `json:"error"`
}

func writeOpenAI(w http.ResponseWriter, status int, typ, code, msg string) {
	var e openaiError
	e.Error.Message, e.Error.Type, e.Error.Code = msg, typ, code
	writeJSON(w, status, e)
}

// writeFail answers an error in the endpoint's shape.
func writeFail(w http.ResponseWriter, sh shape, status int, code, msg string) {
	if sh == shapeARES {
		writeARES(w, status, code, msg)
		return
	}
	typ := "invalid_request_error"
	switch status {
	case http.StatusUnauthorized:
		typ = "authentication_error"
	case http.StatusTooManyRequests:
		typ = "rate_limit_error"
	case http.StatusServiceUnavailable:
		typ = "service_unavailable"
	case http.StatusInternalServerError:
		typ = "server_error"
	}
	writeOpenAI(w, status, typ, strings.ToLower(code), msg)
}

// fail maps a domain error to its status, in one place.
func (p *Platform) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ve *tenancy.ValidationError
	switch {
	case errors.As(err, &ve) && ve.BadRequest:
		writeARES(w, http.StatusBadRequest, "BAD_REQUEST", ve.Msg)
	case errors.As(err, &ve):
		writeARES(w, http.StatusUnprocessableEntity, "VALIDATION_ERROR", ve.Msg)
	case errors.Is(err, tenancy.ErrNotFound):
		writeARES(w, http.StatusNotFound, "NOT_FOUND", "Not found")
	case errors.Is(err, tenancy.ErrConflict):
		writeARES(w, http.StatusConflict, "CONFLICT", conflictMessage(err))
	case errors.Is(err, tenancy.ErrInvalidToken):
		writeARES(w, http.StatusUnauthorized, "AUTH_INVALID_TOKEN", "Invalid or expired token")
	case errors.Is(err, tenancy.ErrBadLogin):
		writeARES(w, http.StatusUnauthorized, "AUTH_INVALID_CREDENTIALS", "Invalid email or password")
	default:
		p.serverError(w, r, shapeARES, err)
	}
}

func conflictMessage(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ": "+tenancy.ErrConflict.Error()); i > 0 {
		return strings.ToUpper(msg[:1]) + msg[1:i] + " already exists"
	}
	return "Resource already exists"
}

// serverError logs the cause and answers without it: a database that is down is 503.
func (p *Platform) serverError(w http.ResponseWriter, r *http.Request, sh shape, err error) {
	p.log.Error("platform request failed", "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", "5")
	writeFail(w, sh, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "Platform database unavailable; retry shortly")
}

const maxBody = 1 << 20

// decode reads a JSON body; false means an error was written.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeARES(w, http.StatusRequestEntityTooLarge, "BAD_REQUEST", "Request body too large or unreadable")
		return false
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		writeARES(w, http.StatusBadRequest, "BAD_REQUEST", jsonProblem(err))
		return false
	}
	return true
}

// jsonProblem says what is wrong with a body: a value of the wrong type names its field.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		want := "a different type"
		switch te.Type.Kind() {
		case reflect.Struct, reflect.Map:
			want = "an object"
		case reflect.Slice, reflect.Array:
			want = "an array"
		case reflect.String:
			want = "a string"
		case reflect.Bool:
			want = "a boolean"
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8,
			reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
			want = "a number"
		case reflect.Pointer:
			want = "an object"
		}
		return fmt.Sprintf("Invalid value for field '%s': expected %s, got %s", te.Field, want, te.Value)
	}
	return "Invalid JSON in request body"
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ipLimiter is a token bucket per client address: a burst of limit requests, refilled
// at limit per minute, so a client that backs off for Retry-After gets through.
type ipLimiter struct {
	limit int
	now   func() time.Time
	mu    sync.Mutex
	seen  map[string]*ipBucket
}

type ipBucket struct {
	tokens float64
	at     time.Time
}

func (l *ipLimiter) allow(ip string) (bool, time.Duration) {
	now := l.now()
	rate := float64(l.limit) / 60 // per second
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.seen) > 100_000 {
		clear(l.seen)
	}
	b := l.seen[ip]
	if b == nil {
		b = &ipBucket{tokens: float64(l.limit), at: now}
		l.seen[ip] = b
	}
	b.tokens = min(float64(l.limit), b.tokens+now.Sub(b.at).Seconds()*rate)
	b.at = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) / rate * float64(time.Second))
	}
	b.tokens--
	return true, 0
}

func (p *Platform) limitIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, wait := p.ip.allow(clientIP(r))
		if !ok {
			w.Header().Set("Retry-After", retryAfter(wait))
			sh := shapeARES
			if strings.HasPrefix(r.URL.Path, "/v1/") && !isARESPath(r.URL.Path) {
				sh = shapeOpenAI
			}
			if sh == shapeARES {
				writeJSON(w, http.StatusTooManyRequests, aresError{Error: tenancy.MsgIPRate, Code: "RATE_LIMIT_EXCEEDED", RetryAfter: ceilSeconds(wait)})
				return
			}
			writeFail(w, sh, http.StatusTooManyRequests, "rate_limit_exceeded", tenancy.MsgIPRate)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func isARESPath(path string) bool {
	return strings.HasPrefix(path, "/v1/api-keys") || path == "/v1/usage" || path == "/v1/chat" || path == "/v1/chat/stream" ||
		path == "/v1/agents" || strings.HasPrefix(path, "/v1/agents/")
}
