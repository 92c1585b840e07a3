package openai

import (
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Access is who may drive the API from a browser, and under which Host names. The
// zero value is the safe default: the node's own and localhost origins, and, for a
// loopback-bound API, loopback Host names only (Ollama's rules).
type Access struct {
	// BindHost is the address the API listens on ("127.0.0.1", "::1", "0.0.0.0", a
	// name). A loopback BindHost turns on the Host check.
	BindHost string
	// Port is the API's port; the node's own origin is http://BindHost:Port.
	Port int
	// Origins widens the allowed browser origins: "scheme://host[:port]" exactly,
	// "scheme://host:*" for any port, or "*" for any origin. "*" answers
	// Access-Control-Allow-Origin: * as the API reference does, and lets every web
	// page the owner visits use the node: unsafe, documented so.
	Origins []string
	// Hosts widens the Host names a loopback-bound API accepts ("*" disables the
	// check), e.g. for a reverse proxy with its own name.
	Hosts []string
}

// Timeouts are the API's HTTP deadlines. A stream writes at least every token, so
// a deadline per write bounds a client that stopped reading without cutting a long
// generation short. Zero values take the defaults.
type Timeouts struct {
	Header time.Duration // request line and headers (default 10 s)
	Body   time.Duration // the whole body, from the end of the headers (default 30 s)
	Idle   time.Duration // a keep-alive connection between requests (default 60 s)
	Write  time.Duration // each write or flush of the response (default 30 s)
}

func (t Timeouts) withDefaults() Timeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.Header, 10*time.Second)
	def(&t.Body, 30*time.Second)
	def(&t.Idle, 60*time.Second)
	def(&t.Write, 30*time.Second)
	return t
}

// corsAllowHeaders are always allowed; a preflight's other requested headers (the
// OpenAI SDK's x-stainless-*, for instance) are echoed for allowed origins.
const corsAllowHeaders = "Content-Type, Authorization"

func forbidden(code, msg string) *APIError {
	return &APIError{Status: http.StatusForbidden, Type: TypeInvalidRequest, Code: code, Message: msg}
}

// guard applies the origin allow-list (with CORS headers), the Host check, the
// JSON Content-Type rule and the body and write deadlines, before next.
func (s *Server) guard(next http.Handler) http.Handler {
	a := s.cfg.Access
	wildcard := false
	for _, o := range a.Origins {
		if strings.TrimSpace(o) == "*" {
			wildcard = true
		}
	}
	checkHost := isLoopbackHost(a.BindHost)
	for _, h := range a.Hosts {
		if strings.TrimSpace(h) == "*" {
			checkHost = false
		}
	}
	machine, _ := os.Hostname()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		// The body must arrive within the Body timeout; decodeRequest clears the deadline
		// once it has the body, so a long stream is not cut by it.
		_ = rc.SetReadDeadline(time.Now().Add(s.cfg.Timeouts.Body))
		w = &deadlineWriter{ResponseWriter: w, rc: rc, d: s.cfg.Timeouts.Write}
		if checkHost && !hostAllowed(r.Host, machine, a.Hosts) {
			s.log.Info("request refused: Host not allowed", "host", truncateString(r.Host, 100), "remote", r.RemoteAddr)
			writeError(w, forbidden("forbidden_host", "Host '"+truncateString(r.Host, 100)+"' is not allowed: this API is bound to a loopback address and answers only loopback Host names (add names with --allowed-hosts)"))
			return
		}
		h := w.Header()
		if origin := r.Header.Get("Origin"); origin != "" {
			if !wildcard && !originAllowed(origin, a) {
				s.log.Info("request refused: origin not allowed", "origin", truncateString(origin, 100), "path", r.URL.Path)
				writeError(w, forbidden("forbidden_origin", "Origin '"+truncateString(origin, 100)+"' is not allowed to use this API (allow it with --cors-origins)"))
				return
			}
			if wildcard {
				h.Set("Access-Control-Allow-Origin", "*")
			} else {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Add("Vary", "Origin")
			}
			// The reference lists GET, POST, OPTIONS; the intentions API it also
			// defines needs PATCH and DELETE, so browsers may call them too.
			h.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", allowHeaders(r.Header.Get("Access-Control-Request-Headers")))
			if r.Method == http.MethodOptions {
				h.Set("Access-Control-Max-Age", "86400")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		} else if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if hasBody(r) {
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != "application/json" {
				writeError(w, &APIError{Status: http.StatusUnsupportedMediaType, Type: TypeInvalidRequest, Code: "unsupported_media_type",
					Message: "Invalid request: the body must be JSON with Content-Type: application/json, got '" + truncateString(r.Header.Get("Content-Type"), 100) + "'"})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// hasBody reports whether a request carries a body the API would read.
func hasBody(r *http.Request) bool {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		return r.ContentLength != 0 // -1: chunked, unknown length
	}
	return false
}

// allowHeaders is the Access-Control-Allow-Headers answer to a preflight that asked
// for requested: the fixed list plus every requested header name that is a token.
func allowHeaders(requested string) string {
	out := corsAllowHeaders
	have := map[string]bool{"content-type": true, "authorization": true}
	for _, f := range strings.Split(requested, ",") {
		f = strings.TrimSpace(f)
		lf := strings.ToLower(f)
		if f == "" || have[lf] || len(f) > 64 || !isToken(f) || len(have) > 64 {
			continue
		}
		have[lf] = true
		out += ", " + lf
	}
	return out
}

func isToken(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", c)) {
			return false
		}
	}
	return true
}

// originAllowed: http(s) on localhost or a loopback IP (any port), the node's own
// origin, or one given in a.Origins.
func originAllowed(origin string, a Access) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.Path != "" || u.User != nil {
		return false
	}
	host := u.Hostname()
	if (u.Scheme == "http" || u.Scheme == "https") && isLoopbackName(host) {
		return true
	}
	if a.Port > 0 && u.Scheme == "http" && a.BindHost != "" && !isUnspecified(a.BindHost) &&
		strings.EqualFold(u.Host, net.JoinHostPort(a.BindHost, strconv.Itoa(a.Port))) {
		return true
	}
	for _, o := range a.Origins {
		o = strings.TrimSuffix(strings.TrimSpace(o), "/")
		if strings.EqualFold(o, origin) {
			return true
		}
		if prefix, ok := strings.CutSuffix(o, ":*"); ok && strings.EqualFold(u.Scheme+"://"+host, prefix) {
			return true
		}
	}
	return false
}

// hostAllowed: a loopback name or IP literal, the machine's own name, or one in
// extra. IP literals cannot be rebound by DNS, so any is safe.
func hostAllowed(hostport, machine string, extra []string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if host == "" || isLoopbackName(host) || net.ParseIP(host) != nil {
		return true
	}
	if machine != "" && strings.EqualFold(host, machine) {
		return true
	}
	for _, h := range extra {
		if strings.EqualFold(strings.TrimSpace(h), host) {
			return true
		}
	}
	return false
}

func isLoopbackName(host string) bool {
	host = strings.ToLower(strings.Trim(host, "[]"))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isLoopbackHost: the API is reachable from this machine only.
func isLoopbackHost(bind string) bool {
	return bind == "" || isLoopbackName(bind)
}

func isUnspecified(host string) bool {
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsUnspecified()
}

func truncateString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// deadlineWriter gives every write and flush its own deadline: a client that stops
// reading a stream is cut after d instead of holding the generation.
type deadlineWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (d *deadlineWriter) Write(b []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.d))
	return d.ResponseWriter.Write(b)
}

func (d *deadlineWriter) WriteHeader(code int) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.d))
	d.ResponseWriter.WriteHeader(code)
}

func (d *deadlineWriter) FlushError() error {
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.d))
	return d.rc.Flush()
}

func (d *deadlineWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }
