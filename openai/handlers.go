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
	body, apiErr := s.readBody(w, r)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	req, apiErr := decodeChatRequest(body)
	if apiErr != nil {
		writeError(w, apiErr)
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
	errs := make([]error, p.n)
	var wg sync.WaitGroup
	for i := range p.n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = s.generate(ctx, p.forChoice(i), start, nil)
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
		resp.Choices[i] = Choice{Index: i, Message: ResponseMessage{Role: "assistant", Content: res.Text}, FinishReason: res.FinishReason}
		resp.Usage.CompletionTokens += res.CompletionTokens
		resp.Usage.PromptTokens = res.PromptTokens
	}
	resp.Usage.TotalTokens = resp.Usage.PromptTokens + resp.Usage.CompletionTokens
	writeJSON(w, http.StatusOK, resp)
	return true
}

// generate runs one choice on the backend and records its metrics. onText, if set,
// gets every non-empty piece of output text.
func (s *Server) generate(ctx context.Context, req inference.Request, start time.Time, onText func(string) error) (res inference.Result, err error) {
	tr := s.metrics.tracker(start)
	sampled := 0
	if sink := usageSinkFrom(ctx); sink != nil {
		// Billed as sampled: a stream the client abandons still counts what it used.
		defer func() { sink.AddUsage(res.PromptTokens, max(res.CompletionTokens, sampled)) }()
	}
	res, err = s.cfg.Backend.Generate(ctx, req, func(t inference.Token) error {
		sampled++
		tr.token(t)
		if onText == nil || t.Text == "" {
			return nil
		}
		return onText(t.Text)
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
	text   string
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
	// emit writes one event; it runs on the handler goroutine only.
	emit := func(ev streamEvent) error {
		if !roleSent[ev.choice] {
			roleSent[ev.choice] = true
			if err := sse.event(chunk(ev.choice, Delta{Role: "assistant", Content: ev.text}, nil)); err != nil {
				return err
			}
			return nil
		}
		if ev.text == "" {
			return nil
		}
		return sse.event(chunk(ev.choice, Delta{Content: ev.text}, nil))
	}

	results := make([]inference.Result, p.n)
	var firstErr error
	if p.n == 1 {
		results[0], firstErr = s.generate(ctx, p.forChoice(0), start, func(text string) error {
			return emit(streamEvent{text: text})
		})
	} else {
		events := make(chan streamEvent, 64)
		var wg sync.WaitGroup
		for i := range p.n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := s.generate(ctx, p.forChoice(i), start, func(text string) error {
					select {
					case events <- streamEvent{choice: i, text: text}:
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
		apiErr := fromEngine(firstErr)
		if !sse.started {
			writeError(w, apiErr)
			return false
		}
		sse.event(ErrorResponse{Error: ErrorBody{Message: apiErr.Message, Type: apiErr.Type, Code: apiErr.Code}})
		return false
	}
	var usage Usage
	for i, res := range results {
		if !roleSent[i] {
			roleSent[i] = true
			if sse.event(chunk(i, Delta{Role: "assistant"}, nil)) != nil {
				return false
			}
		}
		if sse.event(chunk(i, Delta{}, finishPtr(res.FinishReason))) != nil {
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
	for _, m := range s.models() {
		list.Data = append(list.Data, m)
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	for _, m := range s.models() {
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

func (s *sse) done() error { return s.raw([]byte("[DONE]")) }
