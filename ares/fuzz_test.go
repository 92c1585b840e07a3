package ares

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/aria-node/aria/storage/bolt"
	"github.com/aria-node/aria/tenancy"
)

// fuzzPlatform is what the body fuzz targets share: the platform's stores on one
// bbolt file in the target's temp dir, the tenancy service and a quiet logger.
type fuzzPlatform struct {
	db  *bbolt.DB
	svc *tenancy.Service
	log *slog.Logger
}

func newFuzzPlatform(f *testing.F) fuzzPlatform {
	db := tempBolt(f)
	st, err := bolt.NewTenancyStore(db)
	if err != nil {
		f.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return fuzzPlatform{db: db, log: log, svc: tenancy.NewService(st, tenancy.Options{Logger: log, JWTSecret: jwtSecret, BcryptCost: 4})}
}

// tenantKey creates a tenant of tier and returns its id and an API key's secret.
func (p fuzzPlatform) tenantKey(f *testing.F, tier string) (id, key string) {
	tn, err := p.svc.CreateTenant(f.Context(), "fuzz", "fuzz", tier)
	if err != nil {
		f.Fatal(err)
	}
	_, key, err = p.svc.CreateKey(f.Context(), "fuzz", tn.ID, "k", 0)
	if err != nil {
		f.Fatal(err)
	}
	return tn.ID, key
}

// fuzzBodies seeds every body for every route ("METHOD /path") and fuzzes: any body
// sent to any route, with the headers hdr, is answered below 500 with a JSON body.
func fuzzBodies(f *testing.F, h http.Handler, hdr http.Header, routes, seeds []string) {
	for _, s := range seeds {
		for i := range routes {
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		mp := strings.SplitN(routes[int(which)%len(routes)], " ", 2)
		r := httptest.NewRequest(mp[0], mp[1], strings.NewReader(body))
		for k, v := range hdr {
			r.Header[k] = v
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("%s %q: %d %s", mp, body, w.Code, w.Body)
		}
	})
}

// keyHeaders are the admin secret and the tenant's key, as the fuzzed requests send them.
func keyHeaders(key string) http.Header {
	return http.Header{"X-Admin-Secret": {adminSecret}, "Authorization": {"Bearer " + key}}
}

// FuzzPlatformBodies sends arbitrary bodies to every endpoint that decodes one: the
// answer is a documented status with a JSON error, never a panic or a 5xx.
func FuzzPlatformBodies(f *testing.F) {
	p := newFuzzPlatform(f)
	id, key := p.tenantKey(f, "free")
	h := New(Config{Service: p.svc, Required: true, AdminSecret: adminSecret, Logger: p.log}).Wrap(http.NotFoundHandler())
	routes := []string{"POST /api/admin/tenants", "PUT /api/admin/tenants/" + id + "/quota", "POST /api/admin/tenants/" + id + "/api-keys",
		"POST /api/admin/provision-client", "POST /api/auth/register", "POST /api/auth/login", "POST /api/auth/refresh", "POST /api/auth/logout", "POST /v1/api-keys"}
	fuzzBodies(f, h, keyHeaders(key), routes, []string{`{"name":"a","tier":"pro"}`, `{"tier":"gold"}`, `{"email":"a@b.cd","password":"12345678"}`, `{"refresh_token":"rt_x"}`,
		`{"name":"k","expires_in_days":1e99}`, `[`, `null`, "\x00"})
}
