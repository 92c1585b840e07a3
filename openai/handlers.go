package openai

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/aria-node/aria/inference"
)

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	req := new(ChatCompletionRequest)
	if !s.decodeRequest(w, r, req) {
		return
	}
	if s.cfg.Upstream != nil && s.cfg.Upstream.ServesUpstream(r.Context(), req.Model) {
		s.serveUpstream(w, r, req)
		return
	}
	p, apiErr := toEngineRequest(req)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	if len(s.models()) == 0 {
		writeError(w, &APIError{Status: http.StatusServiceUnavailable, Type: TypeServiceUnavailable, Code: "node_unavailable",
			Message: "ARIA node has no model loaded: the native kernel is unavailable", RetryAfter: 5})
		return
	}
	if !s.hasModel(p.req.Model) {
		writeError(w, modelNotFound(p.req.Model))
		return
	}
	if st := s.cfg.Backend.Stats(); p.n > 1 && st.TotalSlots > 0 && p.n > st.TotalSlots+st.QueueSize {
		writeError(w, invalidRequest("'n' is %d but this node runs at most %d generations at once (slots + queue)", p.n, st.TotalSlots+st.QueueSize))
		return
	}
	p.req.Remote = remoteClient(r) // the consent contract's CPU share applies to others' work only
	p.req.TaskType = req.TaskType
	if s.cfg.Chat != nil {
		turn, err := s.cfg.Chat.BeginChat(r.Context(), chatInfo(r, req, p))
		if err != nil {
			writeError(w, fromEngine(err))
			return
		}
		ok := false
		if turn.End != nil {
			defer func() { turn.End(ok) }()
		}
		p.req.Messages = withSystem(p.req.Messages, turn.System)
		ok = s.completeChat(w, r, p, start)
		return
	}
	s.completeChat(w, r, p, start)
}

// completeChat generates the response and reports whether it was delivered whole.
func (s *Server) completeChat(w http.ResponseWriter, r *http.Request, p chatParams, start time.Time) bool {
	id, created := newID(), time.Now().Unix()
	if p.stream {
		return s.streamChat(w, r, p, id, created, start)
	}
	// One failed choice fails the request: cancel its siblings rather than finish them.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	results := make([]inference.Result, p.n)
	logprobs := make([][]TokenLogprob, p.n)
	errs := make([]error, p.n)
	var wg sync.WaitGroup
	for i := range p.n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var onToken func(inference.Token) error
			if p.req.Logprobs {
				logprobs[i] = []TokenLogprob{}
				onToken = func(t inference.Token) error {
					if t.Logprob != nil {
						logprobs[i] = append(logprobs[i], toTokenLogprob(t))
					}
					return nil
				}
			}
			results[i], errs[i] = s.generate(ctx, p.forChoice(i), start, onToken)
			if errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	if err := rootError(errs); err != nil {
		if r.Context().Err() == nil { // else the client is gone
			writeError(w, fromEngine(err))
		}
		return false
	}
	resp := ChatCompletion{ID: id, Object: "chat.completion", Created: created, Model: p.req.Model,
		SystemFingerprint: fingerprint(s.cfg.Version), Choices: make([]Choice, p.n)}
	for i, res := range results {
		resp.Choices[i] = chatChoice(i, res, p, logprobs[i])
		resp.Usage.CompletionTokens += res.CompletionTokens
		resp.Usage.PromptTokens = res.PromptTokens
	}
	resp.Usage.TotalTokens = resp.Usage.PromptTokens + resp.Usage.CompletionTokens
	writeJSON(w, http.StatusOK, resp)
	return true
}

// chatChoice builds one choice: tool calls when the model made them (finish reason
// tool_calls), else the text.
func chatChoice(i int, res inference.Result, p chatParams, lps []TokenLogprob) Choice {
	c := Choice{Index: i, Message: ResponseMessage{Role: "assistant"}, FinishReason: res.FinishReason}
	if p.tools.mode != "" && res.FinishReason == inference.FinishStop {
		if calls, ok := parseToolCalls(res.Text); ok {
			c.Message.ToolCalls = calls
			c.FinishReason = "tool_calls"
		}
	}
	if c.Message.ToolCalls == nil {
		text := res.Text
		c.Message.Content = &text
	}
	if lps != nil {
		c.Logprobs = &ChoiceLogprobs{Content: lps}
	}
	return c
}

// generate runs one choice on the backend and records its metrics. onToken, if set,
// gets every token (Text may be empty when held back).
func (s *Server) generate(ctx context.Context, req inference.Request, start time.Time, onToken func(inference.Token) error) (res inference.Result, err error) {
	tr := s.metrics.tracker(start)
	sampled := 0
	if sink := usageSinkFrom(ctx); sink != nil {
		// A finished generation is billed what it reports (the usage the client sees); one
		// the client abandons is billed as sampled, since the kernel spent those tokens.
		defer func() {
			completion := res.CompletionTokens
			if err != nil {
				completion = max(completion, sampled)
			}
			sink.AddUsage(res.PromptTokens, completion)
		}()
	}
	res, err = s.cfg.Backend.Generate(ctx, req, func(t inference.Token) error {
		if t.ID != inference.FlushToken {
			sampled++
		}
		tr.token(t)
		if onToken == nil {
			return nil
		}
		return onToken(t)
	})
	s.metrics.finished(req.Model, res, err)
	return res, err
}

// rootError picks the error that failed a request of several choices: the first that
// is not a sibling's cancellation.
func rootError(errs []error) error {
	var first error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if !errors.Is(err, context.Canceled) {
			return err
		}
		if first == nil {
			first = err
		}
	}
	return first
}

func (s *Server) hasModel(id string) bool {
	for _, m := range s.models() {
		if m.ID == id {
			return true
		}
	}
	return false
}

// streamEvent is one choice's progress, passed from generating goroutines to the writer.
type streamEvent struct {
	choice int
	tok    inference.Token
	result *inference.Result
	err    error
}

// streamChat streams a completion as server-sent events. The response starts with the
// first token (or the first error), so failures that happen before any output, such
// as a full queue, still get their proper status code.
func (s *Server) streamChat(w http.ResponseWriter, r *http.Request, p chatParams, id string, created int64, start time.Time) bool {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	sse := newSSE(w)
	base := ChatCompletionChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: p.req.Model, SystemFingerprint: fingerprint(s.cfg.Version)}
	chunk := func(choice int, d Delta, finish *string) ChatCompletionChunk {
		c := base
		c.Choices = []ChunkChoice{{Index: choice, Delta: d, FinishReason: finish}}
		return c
	}
	roleSent := make([]bool, p.n)
	tools := make([]*toolStream, p.n)
	if p.tools.mode != "" {
		for i := range tools {
			tools[i] = newToolStream(p.tools.mode != "auto")
		}
	}
	// send writes one delta (the first carries the role); it runs on the handler goroutine only.
	send := func(choice int, d Delta, lp *ChoiceLogprobs) error {
		if !roleSent[choice] {
			roleSent[choice] = true
			d.Role = "assistant"
		}
		c := chunk(choice, d, nil)
		c.Choices[0].Logprobs = lp
		return sse.event(c)
	}
	emit := func(ev streamEvent) error {
		var lp *ChoiceLogprobs
		if ev.tok.Logprob != nil {
			lp = &ChoiceLogprobs{Content: []TokenLogprob{toTokenLogprob(ev.tok)}}
		}
		text, deltas := ev.tok.Text, []ToolCallDelta(nil)
		if ts := tools[ev.choice]; ts != nil {
			text, deltas = ts.push(text)
		}
		if text != "" || lp != nil || (!roleSent[ev.choice] && deltas == nil) {
			if err := send(ev.choice, Delta{Content: text}, lp); err != nil {
				return err
			}
		}
		for _, d := range deltas {
			if err := send(ev.choice, Delta{ToolCalls: []ToolCallDelta{d}}, nil); err != nil {
				return err
			}
		}
		return nil
	}

	results := make([]inference.Result, p.n)
	var firstErr error
	if p.n == 1 {
		results[0], firstErr = s.generate(ctx, p.forChoice(0), start, func(t inference.Token) error {
			if t.Text == "" && t.Logprob == nil {
				return nil
			}
			return emit(streamEvent{tok: t})
		})
	} else {
		events := make(chan streamEvent, 64)
		var wg sync.WaitGroup
		for i := range p.n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := s.generate(ctx, p.forChoice(i), start, func(t inference.Token) error {
					if t.Text == "" && t.Logprob == nil {
						return nil
					}
					select {
					case events <- streamEvent{choice: i, tok: t}:
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				})
				select {
				case events <- streamEvent{choice: i, result: &res, err: err}:
				case <-ctx.Done():
				}
			}()
		}
		go func() { wg.Wait(); close(events) }()
		for ev := range events {
			if ev.result != nil || ev.err != nil {
				if ev.err != nil && firstErr == nil {
					firstErr = ev.err
					cancel()
				}
				results[ev.choice] = *ev.result
				continue
			}
			if firstErr != nil {
				continue
			}
			if err := emit(ev); err != nil {
				firstErr = err
				cancel()
			}
		}
	}
	if firstErr != nil {
		if r.Context().Err() != nil {
			return false // client went away: nothing to tell it
		}
		sse.fail(fromEngine(firstErr))
		return false
	}
	var usage Usage
	for i, res := range results {
		finish := res.FinishReason
		if ts := tools[i]; ts != nil {
			if rest := ts.flush(); rest != "" {
				if send(i, Delta{Content: rest}, nil) != nil {
					return false
				}
			}
			if ts.isCalls() && finish == inference.FinishStop {
				finish = "tool_calls"
			}
		}
		if !roleSent[i] {
			if send(i, Delta{}, nil) != nil {
				return false
			}
		}
		if sse.event(chunk(i, Delta{}, finishPtr(finish))) != nil {
			return false
		}
		usage.PromptTokens = res.PromptTokens
		usage.CompletionTokens += res.CompletionTokens
	}
	if p.includeUsage {
		usage.TotalTokens = usage.PromptTokens + usage.CompletionTokens
		c := base
		c.Choices = []ChunkChoice{}
		c.Usage = &usage
		if sse.event(c) != nil {
			return false
		}
	}
	return sse.done() == nil
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	list := ModelList{Object: "list", Data: []Model{}}
	list.Data = append(list.Data, s.upstreamModels(r.Context(), s.models())...)
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	for _, m := range s.upstreamModels(r.Context(), s.models()) {
		if m.ID == id {
			writeJSON(w, http.StatusOK, m)
			return
		}
	}
	writeError(w, modelNotFound(id))
}

// models are the backend's own models, then those it reaches through peers.
func (s *Server) models() []Model {
	var out []Model
	seen := map[string]bool{}
	for _, m := range s.cfg.Backend.Models() {
		seen[m.ID] = true
		out = append(out, toModel(m, false))
	}
	if rs, ok := s.cfg.Backend.(RemoteModelSource); ok {
		for _, m := range rs.RemoteModels() {
			if !seen[m.ID] {
				seen[m.ID] = true
				out = append(out, toModel(m, true))
			}
		}
	}
	return out
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.status())
}

func (s *Server) status() Status {
	models := s.cfg.Backend.Models()
	st := s.cfg.Backend.Stats()
	out := Status{Backend: "unavailable", ModelsCount: len(models), Version: s.cfg.Version,
		ActiveSlots: st.ActiveSlots, TotalSlots: st.TotalSlots, Queued: st.Queued, QueueSize: st.QueueSize}
	if len(models) > 0 {
		out.Backend = "native"
		out.LlamaCLIAvailable = true
		if s.cfg.Node != nil {
			out.LlamaCLIPath = s.cfg.Node.KernelPath()
		}
	}
	if src, ok := s.cfg.Node.(StatusSource); ok {
		cs := src.ConsentStatus()
		out.Consent = &cs
		out.Threads, out.DutyCycle = src.KernelSettings()
	}
	if ot, ok := s.cfg.Node.(interface{ OwnerThreads() int }); ok {
		out.OwnerThreads = ot.OwnerThreads()
	}
	return out
}

func (s *Server) handleEnergy(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Energy == nil {
		writeError(w, &APIError{Status: http.StatusServiceUnavailable, Type: TypeServiceUnavailable, Code: "energy_unavailable", Message: "energy accounting is not enabled on this node"})
		return
	}
	e := s.cfg.Energy.Energy()
	if e.RecentHistory == nil {
		e.RecentHistory = []EnergyRecord{}
	}
	writeJSON(w, http.StatusOK, e)
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	h := s.health()
	code := http.StatusOK
	if h.Status != "healthy" {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, h)
}

func (s *Server) health() Health {
	serving := len(s.models()) > 0
	h := Health{Status: "healthy", Version: s.cfg.Version, UptimeSeconds: int64(time.Since(s.started).Seconds())}
	if s.cfg.Node != nil {
		h.Node = HealthNode{URI: s.cfg.Node.NodeURI(), NodeID: s.cfg.Node.NodeID(),
			UptimeSeconds: int64(s.cfg.Node.Uptime().Seconds()), IsRunning: s.cfg.Node.Running()}
	}
	h.Node.Status = "healthy"
	chat := "available"
	if r, ok := s.cfg.Node.(Reachability); ok && !r.Reachable() {
		h.Status, h.Node.Status, chat = "degraded", "unreachable", "unavailable"
	} else if !serving || !h.Node.IsRunning {
		h.Status, h.Node.Status, chat = "degraded", "unhealthy", "unavailable"
	}
	energy := "available"
	if s.cfg.Energy == nil {
		energy = "unavailable"
	}
	h.Endpoints = map[string]string{
		"/v1/chat/completions": chat,
		"/v1/models":           "available",
		"/v1/status":           "available",
		"/v1/energy":           energy,
		"/health":              "available",
		"/metrics":             "available",
	}
	return h
}

// sse writes server-sent events, flushing after each so every token leaves at once.
type sse struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
	buf     []byte
}

func newSSE(w http.ResponseWriter) *sse { return &sse{w: w, rc: http.NewResponseController(w)} }

func (s *sse) start() {
	if s.started {
		return
	}
	s.started = true
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	s.w.WriteHeader(http.StatusOK)
}

// fail reports a failed stream: the error response itself while nothing was sent yet,
// else an error event (the status line is gone).
func (s *sse) fail(e *APIError) {
	if !s.started {
		writeError(s.w, e)
		return
	}
	s.event(ErrorResponse{Error: ErrorBody{Message: e.Message, Type: e.Type, Code: e.Code}})
}

func (s *sse) event(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.raw(b)
}

func (s *sse) raw(payload []byte) error {
	s.start()
	s.buf = append(append(append(s.buf[:0], "data: "...), payload...), "\n\n"...)
	if _, err := s.w.Write(s.buf); err != nil {
		return err
	}
	return s.rc.Flush()
}

// named writes an event with an event name (the Responses API's stream).
func (s *sse) named(event string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	s.start()
	s.buf = append(append(append(append(append(s.buf[:0], "event: "...), event...), "\ndata: "...), b...), "\n\n"...)
	if _, err := s.w.Write(s.buf); err != nil {
		return err
	}
	return s.rc.Flush()
}

func (s *sse) done() error { return s.raw([]byte("[DONE]")) }
