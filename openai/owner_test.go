package openai

import (
	"net/http"
	"strings"
	"testing"
)

// Defect 1: the engine learns whose work a request is, so the consent contract's CPU
// share throttles work for others only, never the owner's own loopback requests.
func TestRequestsAreMarkedRemoteOnlyForOthers(t *testing.T) {
	e := newEnv(t, nil)
	if r := e.chat(chatBody("")); r.status != 200 {
		t.Fatalf("owner chat: %d %s", r.status, r.body)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.ts.URL+"/v1/chat/completions", strings.NewReader(chatBody("")))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderOrigin, "remote")
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("remote chat: HTTP %d", resp.StatusCode)
	}
	reqs := e.backend.requests()
	if len(reqs) != 2 || reqs[0].Remote || !reqs[1].Remote {
		t.Fatalf("remote marks = %v, want [false true]", func() (m []bool) {
			for _, r := range reqs {
				m = append(m, r.Remote)
			}
			return
		}())
	}
}
