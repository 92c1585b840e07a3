// Package upstreamtest is a scripted OpenAI-compatible upstream for tests: a real HTTP
// server on loopback that answers POST /v1/chat/completions (streamed or not) and
// GET /v1/models from a script of replies, and records every request it received.
package upstreamtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aria-node/aria/providers"
)

// Reply is one scripted answer. The zero Reply answers "ok".
type Reply struct {
	Content      string
	ToolCalls    []providers.ToolCall
	FinishReason string           // default "stop", or "tool_calls" with ToolCalls
	Usage        *providers.Usage // default: prompt = words in the request's messages, completion = chunks sent
	NoUsage      bool             // report no usage at all

	Status     int    // an HTTP error status (with an OpenAI error body unless Body is set)
	RetryAfter string // Retry-After header (with Status 429)
	Body       string // a raw body instead of a completion (garbage), with Status or 200
	Hang       bool   // answer nothing until the client goes away
	Endless    bool   // stream (or, not streamed, write a body) forever until the client goes away
	Delay      time.Duration
	// ChunkDelay paces a stream: the pause before each content chunk (a provider's decode speed).
	ChunkDelay time.Duration
	// Chunks splits Content for streaming; default: one chunk per word (with its space).
	Chunks []string
}

// Request is one request the server received.
type Request struct {
	Path          string
	Authorization string
	Body          []byte
	Chat          providers.ChatRequest // decoded body (chat requests)
}

// Server is a running scripted upstream.
type Server struct {
	*httptest.Server
	mu       sync.Mutex
	script   []Reply
	def      Reply
	requests []Request
	models   []string
	// done closes on Close, so hanging and endless replies end.
	done chan struct{}
}

// Start starts a server answering replies in order, then def (Reply{} unless changed
// with SetDefault). It is closed when the test ends.
func Start(tb testing.TB, replies ...Reply) *Server {
	s := &Server{script: replies, done: make(chan struct{}), models: []string{"upstream-model"}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(s.Close)
	return s
}

// Close stops the server, ending hanging and endless replies first.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.mu.Unlock()
	s.Server.CloseClientConnections()
	s.Server.Close()
}

// BaseURL is the API base to configure (ends in /v1).
func (s *Server) BaseURL() string { return s.URL + "/v1" }

// Enqueue appends replies to the script.
func (s *Server) Enqueue(replies ...Reply) {
	s.mu.Lock()
	s.script = append(s.script, replies...)
	s.mu.Unlock()
}

// SetDefault sets the reply used once the script is exhausted.
func (s *Server) SetDefault(r Reply) {
	s.mu.Lock()
	s.def = r
	s.mu.Unlock()
}

// SetModels sets what GET /v1/models lists (default "upstream-model").
func (s *Server) SetModels(ids ...string) {
	s.mu.Lock()
	s.models = ids
	s.mu.Unlock()
}

// Requests returns a copy of the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ChatRequests returns the chat requests received so far.
func (s *Server) ChatRequests() []providers.ChatRequest {
	var out []providers.ChatRequest
	for _, r := range s.Requests() {
		if strings.HasSuffix(r.Path, "/chat/completions") {
			out = append(out, r.Chat)
		}
	}
	return out
}

func (s *Server) next() Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.script) == 0 {
		return s.def
	}
	r := s.script[0]
	s.script = s.script[1:]
	return r
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	rec := Request{Path: r.URL.Path, Authorization: r.Header.Get("Authorization"), Body: body}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/models":
		s.record(rec)
		s.mu.Lock()
		ids := append([]string(nil), s.models...)
		s.mu.Unlock()
		data := make([]map[string]any, 0, len(ids))
		for _, id := range ids {
			data = append(data, map[string]any{"id": id, "object": "model", "created": 0, "owned_by": "upstreamtest"})
		}
		writeJSON(w, 200, map[string]any{"object": "list", "data": data})
		return
	case r.Method == http.MethodPost && r.URL.Path == "/v1/chat/completions":
	default:
		writeJSON(w, 404, errBody("no route "+r.URL.Path, "invalid_request_error", "not_found"))
		return
	}
	var raw struct {
		providers.ChatRequest
		StreamOptions *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		s.record(rec)
		writeJSON(w, 400, errBody("bad json: "+err.Error(), "invalid_request_error", "bad_json"))
		return
	}
	rec.Chat = raw.ChatRequest
	s.record(rec)
	rep := s.next()
	if rep.Delay > 0 {
		select {
		case <-time.After(rep.Delay):
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
	switch {
	case rep.Hang:
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		return
	case rep.Status != 0 && rep.Status != 200:
		if rep.RetryAfter != "" {
			w.Header().Set("Retry-After", rep.RetryAfter)
		}
		if rep.Body != "" {
			w.WriteHeader(rep.Status)
			io.WriteString(w, rep.Body)
			return
		}
		typ := "server_error"
		if rep.Status == 429 {
			typ = "rate_limit_error"
		}
		writeJSON(w, rep.Status, errBody(fmt.Sprintf("scripted %d", rep.Status), typ, strconv.Itoa(rep.Status)))
		return
	case rep.Body != "":
		ct := "application/json"
		if raw.Stream {
			ct = "text/event-stream"
		}
		w.Header().Set("Content-Type", ct)
		io.WriteString(w, rep.Body)
		return
	}
	chunks := rep.Chunks
	if chunks == nil {
		chunks = splitWords(rep.Content)
	}
	if rep.Content == "" && len(rep.ToolCalls) == 0 && rep.Chunks == nil {
		chunks = []string{"ok"}
		rep.Content = "ok"
	}
	usage := rep.Usage
	if usage == nil {
		prompt := 0
		for _, m := range raw.Messages {
			prompt += len(strings.Fields(m.Content))
		}
		u := providers.Usage{PromptTokens: prompt, CompletionTokens: len(chunks) + len(rep.ToolCalls)}
		u.TotalTokens = u.PromptTokens + u.CompletionTokens
		usage = &u
	}
	if rep.NoUsage {
		usage = nil
	}
	finish := rep.FinishReason
	if finish == "" {
		finish = "stop"
		if len(rep.ToolCalls) > 0 {
			finish = "tool_calls"
		}
	}
	id := fmt.Sprintf("chatcmpl-up%d", time.Now().UnixNano())
	if raw.Stream {
		s.stream(w, r, id, raw.Model, chunks, rep, finish, usage, raw.StreamOptions != nil && raw.StreamOptions.IncludeUsage)
		return
	}
	if rep.Endless {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"x","choices":[{"message":{"role":"assistant","content":"`)
		for {
			if _, err := io.WriteString(w, strings.Repeat("a", 4096)); err != nil {
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-s.done:
				return
			default:
			}
		}
	}
	msg := map[string]any{"role": "assistant", "content": rep.Content}
	if len(rep.ToolCalls) > 0 {
		msg["tool_calls"] = rep.ToolCalls
		if rep.Content == "" {
			msg["content"] = nil
		}
	}
	out := map[string]any{
		"id": id, "object": "chat.completion", "created": time.Now().Unix(), "model": raw.Model,
		"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
	}
	if usage != nil {
		out["usage"] = usage
	}
	writeJSON(w, 200, out)
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request, id, model string, chunks []string, rep Reply, finish string, usage *providers.Usage, includeUsage bool) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(200)
	fl, _ := w.(http.Flusher)
	send := func(v any) bool {
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		if fl != nil {
			fl.Flush()
		}
		return true
	}
	ev := func(delta map[string]any, fin any) map[string]any {
		return map[string]any{"id": id, "object": "chat.completion.chunk", "created": time.Now().Unix(), "model": model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": fin}}}
	}
	if !send(ev(map[string]any{"role": "assistant", "content": ""}, nil)) {
		return
	}
	if rep.Endless {
		for {
			if !send(ev(map[string]any{"content": "more "}, nil)) {
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-s.done:
				return
			default:
			}
		}
	}
	for _, c := range chunks {
		if rep.ChunkDelay > 0 {
			select {
			case <-time.After(rep.ChunkDelay):
			case <-r.Context().Done():
				return
			case <-s.done:
				return
			}
		}
		if !send(ev(map[string]any{"content": c}, nil)) {
			return
		}
	}
	for i, tc := range rep.ToolCalls {
		// A call in two fragments, as OpenAI streams them: id and name, then arguments.
		half := len(tc.Function.Arguments) / 2
		if !send(ev(map[string]any{"tool_calls": []any{map[string]any{"index": i, "id": tc.ID, "type": "function",
			"function": map[string]any{"name": tc.Function.Name, "arguments": tc.Function.Arguments[:half]}}}}, nil)) {
			return
		}
		if !send(ev(map[string]any{"tool_calls": []any{map[string]any{"index": i,
			"function": map[string]any{"arguments": tc.Function.Arguments[half:]}}}}, nil)) {
			return
		}
	}
	if !send(ev(map[string]any{}, finish)) {
		return
	}
	if includeUsage && usage != nil {
		if !send(map[string]any{"id": id, "object": "chat.completion.chunk", "created": time.Now().Unix(), "model": model, "choices": []any{}, "usage": usage}) {
			return
		}
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	if fl != nil {
		fl.Flush()
	}
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r)
	s.mu.Unlock()
}

func splitWords(s string) []string {
	var out []string
	for s != "" {
		i := strings.IndexByte(s, ' ')
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

func errBody(msg, typ, code string) map[string]any {
	return map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": code}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
