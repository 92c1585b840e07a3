package providers_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aria-node/aria/providers"
)

func TestHandlerTransportOriginAndCancel(t *testing.T) {
	stopped := make(chan struct{})
	seen := make(chan [2]string, 4)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- [2]string{r.RemoteAddr, r.Header.Get("X-Aria-Origin")}
		if !providers.InProcess(r.Context()) {
			t.Error("handler does not see an in-process request")
		}
		if r.URL.Path != "/stream" {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		defer close(stopped)
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(w, "line %d\n", i); err != nil {
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(time.Millisecond):
			}
		}
	})
	hc := &http.Client{Transport: providers.HandlerTransport(h)}

	// Unmarked work is remote; WithOwner makes it the owner's.
	for _, owner := range []bool{false, true} {
		ctx := context.Background()
		if owner {
			ctx = providers.WithOwner(ctx)
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://in-process/status", nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := <-seen
		if resp.StatusCode != http.StatusTeapot || (owner && (got[0] != "127.0.0.1:0" || got[1] != "")) || (!owner && got[1] != "remote") {
			t.Fatalf("owner=%v: status %d, remote addr %q, origin %q", owner, resp.StatusCode, got[0], got[1])
		}
	}

	// Closing a streamed body stops the handler.
	req, _ := http.NewRequest("GET", "http://in-process/stream", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	<-seen
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("header %v", resp.Header)
	}
	sc := bufio.NewScanner(resp.Body)
	for i := 0; i < 3 && sc.Scan(); i++ {
	}
	resp.Body.Close()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("handler still running after the body was closed")
	}
}
