package ares

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aria-node/aria/openai"
	"github.com/aria-node/aria/tenancy"
)

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false
	}
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", true
	}
	return strings.TrimSpace(h[7:]), true
}

func (p *Platform) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("X-Admin-Secret")
		if got == "" {
			writeARES(w, http.StatusUnauthorized, "ADMIN_MISSING", "Missing X-Admin-Secret header")
			return
		}
		if !tenancy.CheckSecret(got, p.cfg.AdminSecret) {
			p.svc.AuthFailed(r.Context(), clientIP(r))
			writeARES(w, http.StatusUnauthorized, "ADMIN_INVALID", "Invalid admin secret")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authSession authenticates a JWT or an API key. It writes the error and returns false
// when credentials are present but wrong, or absent while required.
func (p *Platform) authSession(w http.ResponseWriter, r *http.Request, required bool) (tenancy.Principal, bool, bool) {
	tok, present := bearer(r)
	if !present {
		if required {
			writeARES(w, http.StatusUnauthorized, "AUTH_MISSING", "Missing authorization header")
		}
		return tenancy.Principal{}, false, !required
	}
	if strings.HasPrefix(tok, tenancy.KeyPrefix) {
		k, err := p.svc.Authenticate(r.Context(), tok, clientIP(r))
		if err != nil {
			p.keyError(w, r, shapeARES, err)
			return tenancy.Principal{}, false, false
		}
		return tenancy.Principal{TenantID: k.TenantID, KeyID: k.ID}, true, true
	}
	u, err := p.svc.VerifyAccess(r.Context(), tok)
	if err != nil {
		if errors.Is(err, tenancy.ErrInvalidToken) && !required {
			return tenancy.Principal{}, false, true // open mode: any other bearer works, unauthenticated
		}
		if errors.Is(err, tenancy.ErrInvalidToken) {
			p.svc.AuthFailed(r.Context(), clientIP(r))
			writeARES(w, http.StatusUnauthorized, "AUTH_INVALID_TOKEN", "Invalid or expired token")
		} else {
			p.serverError(w, r, shapeARES, err)
		}
		return tenancy.Principal{}, false, false
	}
	return tenancy.Principal{TenantID: u.TenantID, UserID: u.ID}, true, true
}

// session authenticates /api/* routes served by others: required in auth mode.
func (p *Platform) session(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pr, ok, proceed := p.authSession(w, r, p.cfg.Required)
		if !proceed {
			return
		}
		if ok {
			r = r.WithContext(tenancy.WithPrincipal(r.Context(), pr))
		}
		next.ServeHTTP(w, r)
	})
}

// requireSession needs a JWT or key in every mode.
func (p *Platform) requireSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pr, _, proceed := p.authSession(w, r, true)
		if !proceed {
			return
		}
		next.ServeHTTP(w, r.WithContext(tenancy.WithPrincipal(r.Context(), pr)))
	})
}

func (p *Platform) keyError(w http.ResponseWriter, r *http.Request, sh shape, err error) {
	switch {
	case errors.Is(err, tenancy.ErrExpiredKey):
		if sh == shapeARES {
			writeARES(w, http.StatusUnauthorized, "AUTH_KEY_EXPIRED", "API key expired")
		} else {
			writeOpenAI(w, http.StatusUnauthorized, "authentication_error", "invalid_api_key", "API key expired")
		}
	case errors.Is(err, tenancy.ErrInvalidKey):
		if sh == shapeARES {
			writeARES(w, http.StatusUnauthorized, "AUTH_INVALID_KEY", "Invalid API key")
		} else {
			writeOpenAI(w, http.StatusUnauthorized, "authentication_error", "invalid_api_key", "Invalid API key")
		}
	default:
		p.serverError(w, r, sh, err)
	}
}

// tokenMeter adds up the tokens of every generation a request runs.
type tokenMeter struct{ n atomic.Int64 }

func (m *tokenMeter) AddUsage(prompt, completion int) { m.n.Add(int64(prompt + completion)) }

// statusRecorder remembers the status for settlement; Unwrap keeps Flush reachable.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func ceilSeconds(d time.Duration) int { return int(math.Ceil(max(d, time.Second).Seconds())) }

func retryAfter(d time.Duration) string { return strconv.Itoa(ceilSeconds(d)) }

func limitHeader(limit, used int64) (string, string) {
	if limit == tenancy.Unlimited {
		return "unlimited", "unlimited"
	}
	return strconv.FormatInt(limit, 10), strconv.FormatInt(max(limit-used, 0), 10)
}

func setRateHeaders(h http.Header, l tenancy.Limits, c tenancy.Counters, now time.Time) {
	lim, rem := limitHeader(l.DailyRequests, c.DayRuns)
	h.Set("X-RateLimit-Limit", lim)
	h.Set("X-RateLimit-Remaining", rem)
	h.Set("X-RateLimit-Reset", tenancy.NextDay(now).Format(time.RFC3339))
	_, tok := limitHeader(l.MonthlyTokens, c.MonthTokens)
	h.Set("X-Quota-Tokens-Remaining", tok)
}

// meter authenticates a /v1 call by its tenant key, admits it against the tenant's
// quotas (counted: a run), and settles the tokens it used after the handler returns,
// streams the client abandoned included.
func (p *Platform) meter(next http.Handler, sh shape, counted bool) http.Handler {
	return p.meterOpen(next, sh, counted, sh == shapeOpenAI)
}

// meterOpen is meter; open says whether a call without a tenant key passes, unmetered,
// when auth is not required (the OpenAI routes, and ARES chat on a loopback node).
func (p *Platform) meterOpen(next http.Handler, sh shape, counted, open bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, present := bearer(r)
		if !present || !strings.HasPrefix(tok, tenancy.KeyPrefix) {
			if !p.cfg.Required && open {
				next.ServeHTTP(w, r) // open mode: unmetered
				return
			}
			if !present {
				if sh == shapeARES {
					writeARES(w, http.StatusUnauthorized, "AUTH_MISSING", "Missing authorization header")
				} else {
					writeOpenAI(w, http.StatusUnauthorized, "authentication_error", "missing_api_key", "Missing authorization header")
				}
				return
			}
			p.svc.AuthFailed(r.Context(), clientIP(r))
			p.keyError(w, r, sh, tenancy.ErrInvalidKey)
			return
		}
		k, err := p.svc.Authenticate(r.Context(), tok, clientIP(r))
		if err != nil {
			p.keyError(w, r, sh, err)
			return
		}
		p.serveMetered(w, r, next, sh, tenancy.Principal{TenantID: k.TenantID, KeyID: k.ID}, counted)
	})
}

// meterSession is session (a JWT or a key; required in auth mode) followed by the
// tenant's quotas and metering, for /api/* routes that run models.
func (p *Platform) meterSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pr, ok, proceed := p.authSession(w, r, p.cfg.Required)
		if !proceed {
			return
		}
		if !ok || pr.TenantID == "" {
			next.ServeHTTP(w, r) // open mode, unauthenticated: unmetered
			return
		}
		p.serveMetered(w, r, next, shapeARES, pr, true)
	})
}

// serveMetered admits a request of pr's tenant against its quotas, serves it, and
// settles the tokens it used.
func (p *Platform) serveMetered(w http.ResponseWriter, r *http.Request, next http.Handler, sh shape, pr tenancy.Principal, counted bool) {
	tk, err := p.svc.Admit(r.Context(), pr.TenantID, pr.KeyID, r.Header.Get("Idempotency-Key"), counted)
	var qe *tenancy.QuotaError
	if errors.As(err, &qe) {
		setRateHeaders(w.Header(), qe.Limits, qe.Counters, p.svc.Now())
		w.Header().Set("Retry-After", retryAfter(qe.RetryAfter))
		if sh == shapeARES {
			writeJSON(w, http.StatusTooManyRequests, aresError{Error: qe.Message, Code: "QUOTA_EXCEEDED", RetryAfter: ceilSeconds(qe.RetryAfter)})
		} else {
			writeOpenAI(w, http.StatusTooManyRequests, "rate_limit_error", "rate_limit_exceeded", qe.Message)
		}
		return
	}
	if err != nil {
		p.serverError(w, r, sh, err)
		return
	}
	setRateHeaders(w.Header(), tk.Limits, tk.Counters, tk.At)
	m := &tokenMeter{}
	rec := &statusRecorder{ResponseWriter: w}
	ctx := tenancy.WithPrincipal(r.Context(), pr)
	ctx = openai.WithUsageSink(ctx, m)
	ctx = context.WithValue(ctx, meterKey{}, m)
	defer func() {
		// A panic in the handler is a server failure too.
		failed := rec.status >= 500
		if v := recover(); v != nil {
			tk.Settle(m.n.Load(), true)
			panic(v)
		}
		tk.Settle(m.n.Load(), failed)
	}()
	next.ServeHTTP(rec, r.WithContext(ctx))
}

type meterKey struct{}

// requestMeter is the metered request's token meter (nil when unmetered). Handlers that
// run models themselves report through it.
func requestMeter(ctx context.Context) *tokenMeter {
	m, _ := ctx.Value(meterKey{}).(*tokenMeter)
	return m
}

// principal is the authenticated principal of a self-service route (set by meter).
func principal(ctx context.Context) tenancy.Principal {
	pr, _ := tenancy.PrincipalFrom(ctx)
	return pr
}
