package openai

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aria-node/aria/inference"
)

// flushBackend generates three tokens, then releases held-back text as the kernel
// does at the end of a generation (a FlushToken, which is not a token).
type flushBackend struct{ *fakeBackend }

func (b flushBackend) Generate(ctx context.Context, req inference.Request, onToken func(inference.Token) error) (inference.Result, error) {
	for i, s := range []string{"a", "b", "c"} {
		if err := onToken(inference.Token{ID: int32(i + 1), Text: s}); err != nil {
			return inference.Result{PromptTokens: 5, CompletionTokens: i}, err
		}
	}
	if err := onToken(inference.Token{ID: inference.FlushToken, Text: "!"}); err != nil {
		return inference.Result{PromptTokens: 5, CompletionTokens: 3}, err
	}
	return inference.Result{Text: "abc!", FinishReason: inference.FinishStop, PromptTokens: 5, CompletionTokens: 3}, nil
}

type sumSink struct {
	mu                 sync.Mutex
	prompt, completion int
}

func (s *sumSink) AddUsage(p, c int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prompt += p
	s.completion += c
}

// What the platform bills for a finished generation equals the usage the client was
// told, also when the kernel flushed held-back text at the end.
func TestBilledUsageEqualsReportedUsage(t *testing.T) {
	sink := &sumSink{}
	s := NewServer(Config{Backend: flushBackend{newFakeBackend()}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registry: prometheus.NewRegistry()})
	inner := s.Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(w, r.WithContext(WithUsageSink(r.Context(), sink)))
	}))
	t.Cleanup(ts.Close)
	post := func(body string) string {
		t.Helper()
		resp, err := http.Post(ts.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		return string(b)
	}
	var plain struct{ Usage Usage }
	if err := json.Unmarshal([]byte(post(`{"model":"aria-2b-1bit","messages":[{"role":"user","content":"q"}]}`)), &plain); err != nil {
		t.Fatal(err)
	}
	stream := post(`{"model":"aria-2b-1bit","messages":[{"role":"user","content":"q"}],"stream":true,"stream_options":{"include_usage":true}}`)
	var streamed Usage
	for _, line := range strings.Split(stream, "\n") {
		var ch struct{ Usage *Usage }
		if data, ok := strings.CutPrefix(line, "data: "); ok && data != "[DONE]" && json.Unmarshal([]byte(data), &ch) == nil && ch.Usage != nil {
			streamed = *ch.Usage
		}
	}
	if plain.Usage.CompletionTokens != 3 || streamed.CompletionTokens != 3 {
		t.Fatalf("reported completion tokens %d and %d, want 3", plain.Usage.CompletionTokens, streamed.CompletionTokens)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.completion != 6 || sink.prompt != 10 {
		t.Fatalf("billed %d prompt + %d completion tokens, reported 10 + 6", sink.prompt, sink.completion)
	}
}
