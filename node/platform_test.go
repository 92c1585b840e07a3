package node

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestAuthRequired(t *testing.T) {
	for host, want := range map[string]bool{"127.0.0.1": false, "::1": false, "localhost": false, "127.0.0.2": false,
		"0.0.0.0": true, "": true, "192.168.1.5": true, "::": true, "example.com": true} {
		if got := AuthRequired(false, host); got != want {
			t.Errorf("AuthRequired(false, %q) = %v", host, got)
		}
	}
	if !AuthRequired(true, "127.0.0.1") {
		t.Error("--auth on loopback")
	}
}

// A stand-alone gateway's platform keeps its own database and secrets in its data dir;
// bound to all interfaces it requires keys.
func TestGatewayPlatform(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("ARIA_ADMIN_SECRET", "")
	t.Setenv("API_KEY", "")
	t.Setenv("ARIA_JWT_SECRET", "")
	t.Setenv("JWT_SECRET", "")
	p, err := StartPlatform(context.Background(), PlatformConfig{}, dir, "0.0.0.0", nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, f := range []string{GatewayDBFile, "admin.secret", "jwt.secret"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, st, err)
		}
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	h := p.Access(ok)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/v1/models", nil))
	if w.Code != 401 {
		t.Fatalf("no key on a public gateway: %d", w.Code)
	}
	secret, _ := os.ReadFile(filepath.Join(dir, "admin.secret"))
	r := httptest.NewRequest("GET", "/api/admin/stats", nil)
	r.Header.Set("X-Admin-Secret", string(secret[:len(secret)-1]))
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("admin stats: %d %s", w.Code, w.Body)
	}
}
