// Package peerinfer carries the inference engine's requests, results, tokens and
// errors over the WebSocket peer protocol: the converters both ways, and Infer and
// Embed over a peerproto.Conn. The node (forwarding to peers, serving them) and the
// stand-alone gateway (serving a node's API from afar) both use it, so a field or an
// error code is carried the same way on every path. It builds without cgo.
package peerinfer

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/aria-node/aria/consent"
	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/p2p/peerproto"
)

// Infer runs an engine request on the node at the other end of conn, streaming its
// text (and logprobs) to onToken when set. hops is how often the request was
// forwarded already.
func Infer(ctx context.Context, conn *peerproto.Conn, req inference.Request, hops int, onToken func(inference.Token) error) (inference.Result, error) {
	var onChunk func(peerproto.Chunk) error
	if onToken != nil {
		onChunk = func(ch peerproto.Chunk) error { return onToken(FromChunk(ch)) }
	}
	start := time.Now()
	resp, err := conn.InferChunks(ctx, ToRequest(req, hops), onChunk)
	if err != nil {
		return inference.Result{}, err
	}
	return inference.Result{Text: resp.Output, FinishReason: resp.FinishReason, PromptTokens: resp.Usage.PromptTokens,
		CompletionTokens: resp.Usage.CompletionTokens, Decode: time.Since(start)}, nil
}

// Embed computes embeddings on the node at the other end of conn.
func Embed(ctx context.Context, conn *peerproto.Conn, req inference.EmbedRequest, hops int) (inference.EmbedResult, error) {
	resp, err := conn.Embed(ctx, peerproto.EmbedRequest{ModelID: req.Model, Input: req.Texts, Tokens: req.Tokens, Hops: hops})
	if err != nil {
		return inference.EmbedResult{}, err
	}
	return inference.EmbedResult{Vectors: resp.Embeddings, PromptTokens: resp.Usage.PromptTokens}, nil
}

// ToRequest carries an engine request to a peer: every sampling field, the task type
// and the remote mark (TestRequestRoundTripCarriesEveryField).
func ToRequest(req inference.Request, hops int) peerproto.InferenceRequest {
	out := peerproto.InferenceRequest{ModelID: req.Model, MaxTokens: req.MaxTokens, Stop: req.Stop, Hops: hops, Prompt: req.Prompt,
		TaskType: req.TaskType, Remote: req.Remote}
	if req.Format != nil {
		out.Format, _ = json.Marshal(req.Format)
	}
	out.Logprobs, out.TopLogprobs = req.Logprobs, req.TopLogprobs
	for _, m := range req.Messages {
		out.Messages = append(out.Messages, peerproto.Message{Role: m.Role, Content: m.Content})
	}
	sp := req.Sampling
	f := func(v float32) *float64 { x := float64(v); return &x }
	out.Temperature, out.TopP, out.MinP = f(sp.Temperature), f(sp.TopP), f(sp.MinP)
	out.RepeatPenalty, out.PresencePenalty, out.FrequencyPenalty = f(sp.RepeatPenalty), f(sp.PresencePenalty), f(sp.FrequencyPenalty)
	k, n := sp.TopK, sp.RepeatLastN
	out.TopK, out.RepeatLastN = &k, &n
	if !sp.RandomSeed {
		s := int64(sp.Seed)
		out.Seed = &s
	}
	return out
}

// FromRequest turns a peer-protocol request into an engine request, validated by the
// same rules as HTTP. Absent sampling fields take DefaultSampling's values. Its errors
// are *peerproto.Error with code invalid_request.
func FromRequest(r peerproto.InferenceRequest) (inference.Request, error) {
	req := inference.Request{Model: r.ModelID, MaxTokens: r.MaxTokens, Stop: r.Stop, Sampling: inference.DefaultSampling(),
		TaskType: r.TaskType, Remote: r.Remote}
	if req.Model == "" {
		return req, &peerproto.Error{Code: "invalid_request", Message: "model_id is required"}
	}
	if req.MaxTokens <= 0 {
		req.MaxTokens = 100
	}
	switch {
	case len(r.Messages) > 0:
		for _, m := range r.Messages {
			req.Messages = append(req.Messages, inference.Message{Role: m.Role, Content: m.Content})
		}
	case r.Query != "":
		// The spec's bare client sends a query: it is one user turn of a chat.
		req.Messages = []inference.Message{{Role: "user", Content: r.Query}}
	case r.Prompt != "":
		req.Prompt = r.Prompt
	default:
		return req, &peerproto.Error{Code: "invalid_request", Message: "query, prompt or messages is required"}
	}
	sp := &req.Sampling
	set := func(dst *float32, v *float64) {
		if v != nil {
			*dst = float32(*v)
		}
	}
	set(&sp.Temperature, r.Temperature)
	set(&sp.TopP, r.TopP)
	set(&sp.MinP, r.MinP)
	set(&sp.RepeatPenalty, r.RepeatPenalty)
	set(&sp.PresencePenalty, r.PresencePenalty)
	set(&sp.FrequencyPenalty, r.FrequencyPenalty)
	if r.TopK != nil {
		sp.TopK = *r.TopK
	}
	if r.RepeatLastN != nil {
		sp.RepeatLastN = *r.RepeatLastN
	}
	if r.Seed != nil {
		sp.Seed, sp.RandomSeed = uint64(*r.Seed), false
	}
	req.Logprobs, req.TopLogprobs = r.Logprobs, r.TopLogprobs
	if len(r.Format) > 0 {
		var f inference.Format
		if err := json.Unmarshal(r.Format, &f); err != nil {
			return req, &peerproto.Error{Code: "invalid_request", Message: "format: " + err.Error()}
		}
		if _, err := f.Grammar(); err != nil {
			return req, &peerproto.Error{Code: "invalid_request", Message: err.Error()}
		}
		req.Format = &f
	}
	// The same rules as HTTP: ranges (temperature 1e308 was accepted here and
	// refused there), message count and size limits.
	if err := req.Validate(); err != nil {
		return req, &peerproto.Error{Code: "invalid_request", Message: err.Error()}
	}
	return req, nil
}

// ToChunk is a generated token as a stream chunk: its text and, when the request
// asked for logprobs, its log-probability and the alternatives.
func ToChunk(t inference.Token) peerproto.Chunk {
	ch := peerproto.Chunk{Text: t.Text}
	if t.Logprob != nil {
		lp := &peerproto.TokenLogprob{Bytes: t.Bytes, Logprob: t.Logprob.Logprob}
		for _, a := range t.Logprob.Top {
			lp.Top = append(lp.Top, peerproto.TopLogprob{Bytes: a.Bytes, Logprob: a.Logprob})
		}
		ch.Token = lp
	}
	return ch
}

// FromChunk is ToChunk's inverse (alternatives lose their token ids: -1).
func FromChunk(ch peerproto.Chunk) inference.Token {
	tok := inference.Token{Text: ch.Text}
	if lp := ch.Token; lp != nil {
		tok.Bytes = lp.Bytes
		tok.Logprob = &inference.TokenLogprob{Logprob: lp.Logprob}
		for _, a := range lp.Top {
			tok.Logprob.Top = append(tok.Logprob.Top, inference.TopLogprob{ID: -1, Bytes: a.Bytes, Logprob: a.Logprob})
		}
	}
	return tok
}

// ToError maps engine, routing and consent errors to protocol errors.
func ToError(err error) error {
	var pe *peerproto.Error
	var inv *inference.InvalidError
	var ref *consent.Refusal
	switch {
	case errors.As(err, &pe):
		return err
	case errors.As(err, &ref):
		return ToRefusal(ref)
	case errors.As(err, &inv), errors.Is(err, inference.ErrInvalidRequest), errors.Is(err, inference.ErrContextLength):
		return &peerproto.Error{Code: "invalid_request", Message: err.Error()}
	case errors.Is(err, inference.ErrModelNotFound):
		return &peerproto.Error{Code: "model_not_found", Message: err.Error()}
	case errors.Is(err, inference.ErrBusy):
		return &peerproto.Error{Code: "busy", Message: err.Error()}
	case errors.Is(err, inference.ErrClosed):
		return &peerproto.Error{Code: "shutting_down", Message: err.Error()}
	}
	return &peerproto.Error{Code: "internal", Message: err.Error()}
}

// FromError maps a peer's protocol error back to the engine's sentinels and typed
// refusals, which openai turns into HTTP statuses.
func FromError(err error) error {
	var pe *peerproto.Error
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case "model_not_found":
		return errors.Join(inference.ErrModelNotFound, err)
	case "busy":
		return errors.Join(inference.ErrBusy, err)
	case "invalid_request":
		return errors.Join(inference.ErrInvalidRequest, err)
	case "refused":
		return FromRefusal(pe)
	}
	return err
}

// ToRefusal is a consent refusal as the peer protocol carries it: reason code,
// message, retry_after and opens_at, so the asking node answers its client exactly as
// a local refusal would (503, Retry-After).
func ToRefusal(ref *consent.Refusal) *peerproto.Error {
	pe := &peerproto.Error{Code: "refused", Reason: ref.Code, Message: ref.Message}
	if ref.RetryAfter > 0 {
		pe.RetryAfter = int(min(max((ref.RetryAfter+time.Second-1)/time.Second, 1), 86400))
	}
	if !ref.OpensAt.IsZero() {
		t := ref.OpensAt.UTC()
		pe.OpensAt = &t
	}
	return pe
}

// FromRefusal turns a peer's "refused" error back into the typed refusal ToRefusal
// sent. A peer that sends no retry_after (an older node) is taken to mean "retry in a
// second".
func FromRefusal(pe *peerproto.Error) *consent.Refusal {
	ref := &consent.Refusal{Reason: consent.Reason{Code: pe.Reason, Message: pe.Message}}
	switch {
	case pe.RetryAfter > 0:
		ref.RetryAfter = time.Duration(min(pe.RetryAfter, 86400)) * time.Second
	case pe.Reason != consent.CodeTaskTypeNotAllowed:
		ref.RetryAfter = time.Second
	}
	if pe.OpensAt != nil {
		ref.OpensAt = *pe.OpensAt
	}
	return ref
}
