package ares

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/aria-node/aria/storage/bolt"
	"github.com/aria-node/aria/tenancy"
)

// FuzzPlatformBodies sends arbitrary bodies to every endpoint that decodes one: the
// answer is a documented status with a JSON error, never a panic or a 5xx.
func FuzzPlatformBodies(f *testing.F) {
	db, err := bbolt.Open(filepath.Join(f.TempDir(), "aria.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	st, err := bolt.NewTenancyStore(db)
	if err != nil {
		f.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := tenancy.NewService(st, tenancy.Options{Logger: log, JWTSecret: jwtSecret, BcryptCost: 4})
	ctx := f.Context()
	tn, _ := svc.CreateTenant(ctx, "fuzz", "fuzz", "free")
	_, key, _ := svc.CreateKey(ctx, "fuzz", tn.ID, "k", 0)
	h := New(Config{Service: svc, Required: true, AdminSecret: adminSecret, Logger: log}).Wrap(http.NotFoundHandler())
	paths := []string{"/api/admin/tenants", "/api/admin/tenants/" + tn.ID + "/quota", "/api/admin/tenants/" + tn.ID + "/api-keys",
		"/api/admin/provision-client", "/api/auth/register", "/api/auth/login", "/api/auth/refresh", "/api/auth/logout", "/v1/api-keys"}
	for _, s := range []string{`{"name":"a","tier":"pro"}`, `{"tier":"gold"}`, `{"email":"a@b.cd","password":"12345678"}`, `{"refresh_token":"rt_x"}`,
		`{"name":"k","expires_in_days":1e99}`, `[`, `null`, "\x00"} {
		for i := range paths {
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		path := paths[int(which)%len(paths)]
		method := "POST"
		if strings.HasSuffix(path, "/quota") {
			method = "PUT"
		}
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("X-Admin-Secret", adminSecret)
		r.Header.Set("Authorization", "Bearer "+key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("%s %q: %d %s", path, body, w.Code, w.Body)
		}
	})
}
