package openai

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// The request limits answer a clear 400 before anything reaches the engine.
func TestRequestLimitsAre400(t *testing.T) {
	fb := newFakeBackend()
	e := newEnv(t, fb, func(c *Config) { c.MaxBodyBytes = 4 << 20 })
	msgs := strings.Repeat(`{"role":"user","content":"x"},`, 4097)
	for name, body := range map[string]string{
		"4097 messages":     fmt.Sprintf(`{"model":"aria-2b-1bit","messages":[%s]}`, strings.TrimSuffix(msgs, ",")),
		"contents of 1 MiB": fmt.Sprintf(`{"model":"aria-2b-1bit","messages":[{"role":"user","content":"%s"}]}`, strings.Repeat("a", 1<<20+1)),
		"temperature 1e308": `{"model":"aria-2b-1bit","temperature":1e308,"messages":[{"role":"user","content":"x"}]}`,
	} {
		r := e.chat(body)
		assertAPIError(t, name, r, http.StatusBadRequest, "invalid_request")
	}
	if n := len(fb.requests()); n != 0 {
		t.Fatalf("%d over-limit requests reached the backend", n)
	}
}
