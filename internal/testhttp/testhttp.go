// Package testhttp is the HTTP client of tests that talk to a real server on loopback.
package testhttp

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Do sends body to url as JSON (no body when empty) with the given header name/value
// pairs and returns the status, the whole body and the header. The request is bounded
// by a minute and by the test's context; a transport error fails the test.
func Do(t testing.TB, method, url, body string, header ...string) (int, []byte, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp.StatusCode, b, resp.Header
}
