package openai

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Upstream serves models the node does not run itself: the OpenAI-compatible providers
// its owner configured, and tiers and aliases (the node's providers registry). Chat
// requests for its models skip the node's kernel and consent admission (they use no
// kernel time here; a tier or alias that lands on the node's own model goes through
// this handler again, admitted as usual). The upstream meters its own turns.
type Upstream interface {
	// ServesUpstream reports whether a chat request for model goes upstream.
	ServesUpstream(ctx context.Context, model string) bool
	// UpstreamModels lists its models for /v1/models, after the node's own.
	UpstreamModels(ctx context.Context) []Model
	// ChatUpstream serves one turn; onDelta gets each streamed piece (nil: not
	// streamed). remote is false for the node owner's own requests. Errors are
	// *APIError (others answer 502).
	ChatUpstream(ctx context.Context, req *ChatCompletionRequest, remote bool, onDelta func(Delta) error) (*ChatCompletion, error)
}

// TypeRateLimit is the error type of a 429.
const TypeRateLimit = "rate_limit_error"

// Inner is the API's routes without the platform layer and the browser guard, for
// in-process callers (the node's built-in providers): their requests were
// authenticated and are metered by whoever calls them.
func (s *Server) Inner() http.Handler { return s.inner }

// serveUpstream answers a chat request whose model the Upstream serves.
func (s *Server) serveUpstream(w http.ResponseWriter, r *http.Request, req *ChatCompletionRequest) {
	if req.N != nil && *req.N > 1 {
		writeError(w, invalidRequest("'n' must be 1 for model '%s' (an upstream provider's)", req.Model))
		return
	}
	remote := remoteClient(r)
	if !req.Stream {
		comp, err := s.cfg.Upstream.ChatUpstream(r.Context(), req, remote, nil)
		if err != nil {
			writeError(w, upstreamError(err))
			return
		}
		writeJSON(w, http.StatusOK, comp)
		return
	}
	sse := newSSE(w)
	base := ChatCompletionChunk{ID: newID(), Object: "chat.completion.chunk", Created: time.Now().Unix(), Model: req.Model, SystemFingerprint: fingerprint(s.cfg.Version)}
	chunk := func(d Delta, finish *string) ChatCompletionChunk {
		c := base
		c.Choices = []ChunkChoice{{Index: 0, Delta: d, FinishReason: finish}}
		return c
	}
	roleSent := false
	comp, err := s.cfg.Upstream.ChatUpstream(r.Context(), req, remote, func(d Delta) error {
		if !roleSent {
			roleSent, d.Role = true, "assistant"
		}
		return sse.event(chunk(d, nil))
	})
	if err != nil {
		if r.Context().Err() != nil {
			return
		}
		sse.fail(upstreamError(err))
		return
	}
	if !roleSent && sse.event(chunk(Delta{Role: "assistant"}, nil)) != nil {
		return
	}
	finish := "stop"
	if len(comp.Choices) > 0 {
		finish = comp.Choices[0].FinishReason
	}
	if sse.event(chunk(Delta{}, &finish)) != nil {
		return
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		c := base
		c.Choices, c.Usage = []ChunkChoice{}, &comp.Usage
		if sse.event(c) != nil {
			return
		}
	}
	sse.done()
}

func upstreamError(err error) *APIError {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr
	}
	return &APIError{Status: http.StatusBadGateway, Type: TypeServer, Code: "upstream_error", Message: "Upstream provider failed: " + err.Error()}
}

// upstreamModels appends the Upstream's models that the node does not list already.
func (s *Server) upstreamModels(ctx context.Context, own []Model) []Model {
	if s.cfg.Upstream == nil {
		return own
	}
	seen := map[string]bool{}
	for _, m := range own {
		seen[m.ID] = true
	}
	for _, m := range s.cfg.Upstream.UpstreamModels(ctx) {
		if !seen[m.ID] {
			seen[m.ID] = true
			own = append(own, m)
		}
	}
	return own
}
