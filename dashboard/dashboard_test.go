package dashboard

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Result()
}

func TestServesThePageAndItsAssetsWithTheCSP(t *testing.T) {
	h := Handler()
	for path, ctype := range map[string]string{
		"/": "text/html", "/ui/app.js": "text/javascript", "/ui/app.css": "text/css", "/ui/favicon.svg": "image/svg+xml",
	} {
		r := get(t, h, "GET", path)
		if r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), ctype) {
			t.Errorf("%s: %d %q, want 200 %s", path, r.StatusCode, r.Header.Get("Content-Type"), ctype)
		}
		csp := r.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "http") ||
			!strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", path)
		}
	}
	for _, path := range []string{"/ui/", "/ui/nope.js", "/ui/index.html", "/ui/../dashboard.go", "/ui/a/b", "/index.html", "/static/app.js"} {
		if r := get(t, h, "GET", path); r.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", path, r.StatusCode)
		}
	}
	if r := get(t, h, "POST", "/"); r.StatusCode != 405 {
		t.Errorf("POST /: %d", r.StatusCode)
	}
}

// The CSP forbids inline script and style: the page must not need them.
func TestThePageHasNoInlineScriptOrThirdPartyOrigin(t *testing.T) {
	b, _ := io.ReadAll(get(t, Handler(), "GET", "/").Body)
	page := string(b)
	for _, re := range []string{`<script(?:\s[^>]*)?>\s*[^<\s]`, `\son[a-z]+\s*=`, `\sstyle\s*=`, `(?:src|href|action)\s*=\s*"(?:https?:)?//`, `javascript:`} {
		if m := regexp.MustCompile(`(?i)` + re).FindString(page); m != "" {
			t.Errorf("index.html has %q (%s)", m, re)
		}
	}
	js, _ := io.ReadAll(get(t, Handler(), "GET", "/ui/app.js").Body)
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if strings.Contains(string(js), bad) {
			t.Errorf("app.js uses %s: untrusted text must go through textContent", bad)
		}
	}
}

func TestAssetsStaySmall(t *testing.T) {
	total := 0
	for _, p := range []string{"/", "/ui/app.js", "/ui/app.css", "/ui/favicon.svg"} {
		b, _ := io.ReadAll(get(t, Handler(), "GET", p).Body)
		total += len(b)
	}
	if total > 200<<10 {
		t.Fatalf("assets are %d bytes, over 200 KiB", total)
	}
}
