package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/aria-node/aria/inference"
)

// DefaultCompletionMaxTokens is max_tokens when a completions request omits it, as
// OpenAI's legacy endpoint does.
const DefaultCompletionMaxTokens = 16

// CompletionRequest is the body of POST /v1/completions (legacy text completions).
type CompletionRequest struct {
	Model            string            `json:"model"`
	Prompt           CompletionPrompt  `json:"prompt"`
	Suffix           *string           `json:"suffix"`
	MaxTokens        *int              `json:"max_tokens"`
	Temperature      *float64          `json:"temperature"`
	TopP             *float64          `json:"top_p"`
	N                *int              `json:"n"`
	Stop             StopSequences     `json:"stop"`
	Stream           bool              `json:"stream"`
	StreamOptions    *StreamOptions    `json:"stream_options"`
	Seed             *int64            `json:"seed"`
	Logprobs         *int              `json:"logprobs"`
	Echo             bool              `json:"echo"`
	PresencePenalty  *float64          `json:"presence_penalty"`
	FrequencyPenalty *float64          `json:"frequency_penalty"`
	BestOf           *int              `json:"best_of"`
	LogitBias        map[string]any    `json:"logit_bias"`
	User             string            `json:"user"`
	Metadata         map[string]string `json:"metadata"`
	TaskType         string            `json:"task_type"`
	TopK             *int              `json:"top_k"`
	MinP             *float64          `json:"min_p"`
	RepeatPenalty    *float64          `json:"repeat_penalty"`
}

// CompletionPrompt is "prompt": a string or an array of strings. Token-id prompts are
// refused with a 400.
type CompletionPrompt struct {
	Texts  []string
	tokens bool
	set    bool
}

func (p *CompletionPrompt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	p.set = true
	switch {
	case bytes.Equal(b, []byte("null")):
		p.set = false
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		p.Texts = []string{s}
		return nil
	case len(b) > 0 && b[0] == '[':
		if err := json.Unmarshal(b, &p.Texts); err == nil {
			return nil
		}
		var toks any
		if json.Unmarshal(b, &toks) == nil {
			p.tokens = true
			return nil
		}
	}
	return &fieldError{field: "prompt", msg: "must be a string or an array of strings"}
}

// Completion is the response (and, with object text_completion, each stream chunk).
type Completion struct {
	ID                string             `json:"id"`
	Object            string             `json:"object"`
	Created           int64              `json:"created"`
	Model             string             `json:"model"`
	Choices           []CompletionChoice `json:"choices"`
	Usage             *Usage             `json:"usage,omitempty"`
	SystemFingerprint string             `json:"system_fingerprint"`
}

// CompletionChoice is one completion.
type CompletionChoice struct {
	Text         string              `json:"text"`
	Index        int                 `json:"index"`
	Logprobs     *CompletionLogprobs `json:"logprobs"`
	FinishReason *string             `json:"finish_reason"`
}

// CompletionLogprobs is the legacy logprobs shape.
type CompletionLogprobs struct {
	Tokens        []string             `json:"tokens"`
	TokenLogprobs []float32            `json:"token_logprobs"`
	TopLogprobs   []map[string]float32 `json:"top_logprobs"`
	TextOffset    []int                `json:"text_offset"`
}

func (l *CompletionLogprobs) add(t inference.Token, offset int) {
	l.Tokens = append(l.Tokens, string(t.Bytes))
	l.TokenLogprobs = append(l.TokenLogprobs, t.Logprob.Logprob)
	top := map[string]float32{}
	for _, a := range t.Logprob.Top {
		top[string(a.Bytes)] = a.Logprob
	}
	l.TopLogprobs = append(l.TopLogprobs, top)
	l.TextOffset = append(l.TextOffset, offset)
}

// completionParams is a validated completions request.
type completionParams struct {
	chat    chatParams // sampling, n, stream, stop, logprobs
	prompts []string
	echo    bool
}

// toCompletionParams validates a completions request. The sampling fields share the
// chat endpoint's rules.
func toCompletionParams(r *CompletionRequest) (completionParams, *APIError) {
	var p completionParams
	switch {
	case r.Model == "":
		return p, invalidRequest("'model' field is required")
	case !r.Prompt.set:
		return p, invalidRequest("'prompt' field is required")
	case r.Prompt.tokens:
		return p, invalidRequest("'prompt' as token ids is not supported; send text")
	case len(r.Prompt.Texts) == 0:
		return p, invalidRequest("'prompt' must not be empty")
	case r.Suffix != nil && *r.Suffix != "":
		return p, invalidRequest("'suffix' is not supported (no fill-in-the-middle)")
	case r.BestOf != nil && *r.BestOf != 1 && (r.N == nil || *r.BestOf != *r.N):
		return p, invalidRequest("'best_of' is not supported")
	case len(r.LogitBias) > 0:
		return p, invalidRequest("'logit_bias' is not supported")
	case r.Logprobs != nil && (*r.Logprobs < 0 || *r.Logprobs > inference.MaxTopLogprobs):
		return p, invalidRequest("'logprobs' must be between 0 and %d, got %d", inference.MaxTopLogprobs, *r.Logprobs)
	case r.Logprobs != nil && r.Echo:
		return p, invalidRequest("'logprobs' with 'echo' is not supported (no prompt logprobs)")
	}
	for i, t := range r.Prompt.Texts {
		if t == "" {
			return p, invalidRequest("'prompt[%d]' must not be empty", i)
		}
	}
	if len(r.Prompt.Texts)*max(1, deref(r.N, 1)) > MaxN {
		return p, invalidRequest("'prompt' × 'n' asks for %d completions; at most %d", len(r.Prompt.Texts)*deref(r.N, 1), MaxN)
	}
	maxTokens := r.MaxTokens
	if maxTokens == nil {
		d := DefaultCompletionMaxTokens
		maxTokens = &d
	}
	chat := &ChatCompletionRequest{Model: r.Model, Messages: []ChatMessage{{Role: "user"}}, MaxTokens: maxTokens,
		Temperature: r.Temperature, TopP: r.TopP, N: r.N, Stop: r.Stop, Stream: r.Stream, StreamOptions: r.StreamOptions,
		Seed: r.Seed, PresencePenalty: r.PresencePenalty, FrequencyPenalty: r.FrequencyPenalty, TopK: r.TopK, MinP: r.MinP,
		RepeatPenalty: r.RepeatPenalty}
	cp, apiErr := toEngineRequest(chat)
	if apiErr != nil {
		return p, apiErr
	}
	cp.req.Messages = nil
	if r.Logprobs != nil {
		cp.req.Logprobs, cp.req.TopLogprobs = true, *r.Logprobs
	}
	p.chat, p.prompts, p.echo = cp, r.Prompt.Texts, r.Echo
	return p, nil
}

func deref(p *int, d int) int {
	if p == nil {
		return d
	}
	return *p
}

// choiceRequest is the engine request of completion index i (prompt i / n, sample i % n).
func (p completionParams) choiceRequest(i int) inference.Request {
	req := p.chat.forChoice(i % p.chat.n)
	req.Prompt = p.prompts[i/p.chat.n]
	return req
}

func (s *Server) handleCompletions(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var req CompletionRequest
	if !s.decodeRequest(w, r, &req) {
		return
	}
	p, apiErr := toCompletionParams(&req)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	if !s.hasModel(req.Model) {
		writeError(w, modelNotFound(req.Model))
		return
	}
	end, apiErr := s.admitOther(r, "completions", req.Model, p.prompts[len(p.prompts)-1])
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	if end != nil {
		defer end()
	}
	total := len(p.prompts) * p.chat.n
	id, created := "cmpl-aria-"+newID()[len("chatcmpl-aria-"):], time.Now().Unix()
	base := Completion{ID: id, Object: "text_completion", Created: created, Model: req.Model, SystemFingerprint: fingerprint(s.cfg.Version)}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()

	if p.chat.stream {
		s.streamCompletions(w, r, ctx, cancel, p, base, start, total)
		return
	}
	results := make([]inference.Result, total)
	lps := make([]*CompletionLogprobs, total)
	errs := make([]error, total)
	var wg sync.WaitGroup
	for i := range total {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var onToken func(inference.Token) error
			if p.chat.req.Logprobs {
				lps[i] = &CompletionLogprobs{}
				offset := 0
				onToken = func(t inference.Token) error {
					if t.Logprob != nil {
						lps[i].add(t, offset)
						offset += len(t.Bytes)
					}
					return nil
				}
			}
			results[i], errs[i] = s.generate(ctx, p.choiceRequest(i), start, onToken)
			if errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	if err := rootError(errs); err != nil {
		if r.Context().Err() == nil {
			writeError(w, fromEngine(err))
		}
		return
	}
	out := base
	out.Usage = &Usage{}
	for i, res := range results {
		text := res.Text
		if p.echo {
			text = p.prompts[i/p.chat.n] + text
		}
		out.Choices = append(out.Choices, CompletionChoice{Text: text, Index: i, Logprobs: lps[i], FinishReason: finishPtr(res.FinishReason)})
		out.Usage.PromptTokens += res.PromptTokens
		out.Usage.CompletionTokens += res.CompletionTokens
	}
	// Each prompt counts once, whatever n is.
	out.Usage.PromptTokens /= p.chat.n
	out.Usage.TotalTokens = out.Usage.PromptTokens + out.Usage.CompletionTokens
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) streamCompletions(w http.ResponseWriter, r *http.Request, ctx context.Context, cancel context.CancelFunc, p completionParams, base Completion, start time.Time, total int) {
	sse := newSSE(w)
	type event struct {
		i   int
		tok inference.Token
		res *inference.Result
		err error
	}
	events := make(chan event, 64)
	var wg sync.WaitGroup
	for i := range total {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.generate(ctx, p.choiceRequest(i), start, func(t inference.Token) error {
				if t.Text == "" && t.Logprob == nil {
					return nil
				}
				select {
				case events <- event{i: i, tok: t}:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
			select {
			case events <- event{i: i, res: &res, err: err}:
			case <-ctx.Done():
			}
		}()
	}
	go func() { wg.Wait(); close(events) }()
	chunk := func(i int, text string, lp *CompletionLogprobs, finish *string) Completion {
		c := base
		c.Choices = []CompletionChoice{{Text: text, Index: i, Logprobs: lp, FinishReason: finish}}
		return c
	}
	var firstErr error
	usage := Usage{}
	offsets := make([]int, total)
	echoed := make([]bool, total)
	for ev := range events {
		if firstErr != nil {
			continue
		}
		if ev.res != nil || ev.err != nil {
			if ev.err != nil {
				firstErr = ev.err
				cancel()
				continue
			}
			if p.echo && !echoed[ev.i] {
				echoed[ev.i] = true
				if sse.event(chunk(ev.i, p.prompts[ev.i/p.chat.n], nil, nil)) != nil {
					firstErr = context.Canceled
					cancel()
					continue
				}
			}
			if ev.i%p.chat.n == 0 {
				usage.PromptTokens += ev.res.PromptTokens
			}
			usage.CompletionTokens += ev.res.CompletionTokens
			if sse.event(chunk(ev.i, "", nil, finishPtr(ev.res.FinishReason))) != nil {
				firstErr = context.Canceled
				cancel()
			}
			continue
		}
		text := ev.tok.Text
		if p.echo && !echoed[ev.i] {
			echoed[ev.i] = true
			text = p.prompts[ev.i/p.chat.n] + text
		}
		var lp *CompletionLogprobs
		if ev.tok.Logprob != nil {
			lp = &CompletionLogprobs{}
			lp.add(ev.tok, offsets[ev.i])
			offsets[ev.i] += len(ev.tok.Bytes)
		}
		if err := sse.event(chunk(ev.i, text, lp, nil)); err != nil {
			firstErr = err
			cancel()
		}
	}
	if firstErr != nil {
		if r.Context().Err() != nil {
			return
		}
		sse.fail(fromEngine(firstErr))
		return
	}
	if p.chat.includeUsage {
		usage.TotalTokens = usage.PromptTokens + usage.CompletionTokens
		c := base
		c.Choices = []CompletionChoice{}
		c.Usage = &usage
		if sse.event(c) != nil {
			return
		}
	}
	sse.done()
}
