package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"

	"github.com/aria-node/aria/inference"
)

// Limits and defaults of the chat endpoint.
const (
	DefaultMaxTokens = 100
	MaxN             = 16
	MaxStops         = 16
)

// decodeBody decodes a request body strictly, for every endpoint: exactly one JSON
// object (null is not one); errors name the field.
func decodeBody(body []byte, v any) *APIError {
	if string(bytes.TrimSpace(body)) == "null" {
		return invalidRequest("the body must be a JSON object, got null")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return jsonError(err, body)
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalidRequest("the body must be a single JSON object")
	}
	return nil
}

// jsonError turns a decoding error into a message naming the field.
func jsonError(err error, body []byte) *APIError {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	var fe *fieldError
	switch {
	case errors.As(err, &te):
		if te.Field == "" {
			return invalidRequest("the body must be a JSON object, got %s", te.Value)
		}
		return invalidRequest("'%s' must be %s, got %s", te.Field, typeName(te.Type), te.Value)
	case errors.As(err, &fe):
		field := fe.field
		if field == "content" {
			field = locateBadContent(body)
		}
		return invalidRequest("'%s' %s", field, fe.msg)
	case errors.As(err, &se):
		return invalidRequest("malformed JSON at byte %d: %v", se.Offset, se)
	case errors.Is(err, io.EOF):
		return invalidRequest("the body is empty; expected a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalidRequest("malformed JSON: unexpected end of input")
	}
	return invalidRequest("malformed JSON: %v", err)
}

// locateBadContent finds which message's content failed to decode, for the error's path.
func locateBadContent(body []byte) string {
	var raw struct {
		Messages []struct {
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	json.Unmarshal(body, &raw)
	for i, m := range raw.Messages {
		var c TextContent
		if len(m.Content) > 0 && c.UnmarshalJSON(m.Content) != nil {
			return fmt.Sprintf("messages[%d].content", i)
		}
	}
	return "messages[].content"
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.Slice:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Pointer:
		return typeName(t.Elem())
	}
	return t.String()
}

// chatParams is a validated chat request, ready for the engine.
type chatParams struct {
	req          inference.Request
	n            int
	stream       bool
	includeUsage bool
	seeded       bool
	tools        toolParams
}

var roleAlias = map[string]string{"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}

// toEngineRequest validates a chat request and converts it. It is pure: every rule
// of the API's contract for request fields lives here, table-tested without a server.
func toEngineRequest(r *ChatCompletionRequest) (chatParams, *APIError) {
	var p chatParams
	if r.Model == "" {
		return p, invalidRequest("'model' field is required")
	}
	if r.Messages == nil {
		return p, invalidRequest("'messages' field is required")
	}
	if len(r.Messages) == 0 {
		return p, invalidRequest("'messages' must contain at least one message")
	}
	format, tp, apiErr := formatOf(r)
	if apiErr != nil {
		return p, apiErr
	}
	msgs, apiErr := renderMessages(r, tp)
	if apiErr != nil {
		return p, apiErr
	}
	p.tools = tp
	if r.TopLogprobs != nil {
		if *r.TopLogprobs < 0 || *r.TopLogprobs > inference.MaxTopLogprobs {
			return p, invalidRequest("'top_logprobs' must be between 0 and %d, got %d", inference.MaxTopLogprobs, *r.TopLogprobs)
		}
		if !r.Logprobs {
			return p, invalidRequest("'top_logprobs' requires 'logprobs' to be true")
		}
	}
	maxTokens := DefaultMaxTokens
	if r.MaxCompletionTokens != nil {
		maxTokens = *r.MaxCompletionTokens
		if maxTokens <= 0 {
			return p, invalidRequest("'max_completion_tokens' must be a positive integer, got %d", maxTokens)
		}
	}
	if r.MaxTokens != nil {
		maxTokens = *r.MaxTokens
		if maxTokens <= 0 {
			return p, invalidRequest("'max_tokens' must be a positive integer, got %d", maxTokens)
		}
	}
	s := inference.DefaultSampling()
	if r.Temperature != nil {
		t := *r.Temperature
		if t < 0 || t > 2 || math.IsNaN(t) {
			return p, invalidRequest("'temperature' must be between 0 and 2, got %v", t)
		}
		s.Temperature = float32(t)
	}
	if r.TopP != nil {
		v := *r.TopP
		if v <= 0 || v > 1 {
			return p, invalidRequest("'top_p' must be greater than 0 and at most 1, got %v", v)
		}
		s.TopP = float32(v)
	}
	if r.TopK != nil {
		if *r.TopK < 0 {
			return p, invalidRequest("'top_k' must be >= 0, got %d", *r.TopK)
		}
		s.TopK = *r.TopK
	}
	if r.MinP != nil {
		if *r.MinP < 0 || *r.MinP >= 1 {
			return p, invalidRequest("'min_p' must be in [0, 1), got %v", *r.MinP)
		}
		s.MinP = float32(*r.MinP)
	}
	if r.RepeatPenalty != nil {
		if *r.RepeatPenalty <= 0 {
			return p, invalidRequest("'repeat_penalty' must be > 0, got %v", *r.RepeatPenalty)
		}
		s.RepeatPenalty = float32(*r.RepeatPenalty)
	}
	for _, pen := range []struct {
		name string
		v    *float64
		dst  *float32
	}{{"presence_penalty", r.PresencePenalty, &s.PresencePenalty}, {"frequency_penalty", r.FrequencyPenalty, &s.FrequencyPenalty}} {
		if pen.v == nil {
			continue
		}
		if *pen.v < -2 || *pen.v > 2 {
			return p, invalidRequest("'%s' must be between -2 and 2, got %v", pen.name, *pen.v)
		}
		*pen.dst = float32(*pen.v)
	}
	if r.Seed != nil {
		s.RandomSeed = false
		s.Seed = uint64(*r.Seed)
		p.seeded = true
	}
	p.n = 1
	if r.N != nil {
		if *r.N < 1 || *r.N > MaxN {
			return p, invalidRequest("'n' must be between 1 and %d, got %d", MaxN, *r.N)
		}
		p.n = *r.N
	}
	if len(r.Stop) > MaxStops {
		return p, invalidRequest("'stop' may hold at most %d sequences, got %d", MaxStops, len(r.Stop))
	}
	p.stream = r.Stream
	if r.StreamOptions != nil {
		if !r.Stream {
			return p, invalidRequest("'stream_options' is only allowed when 'stream' is true")
		}
		p.includeUsage = r.StreamOptions.IncludeUsage
	}
	p.req = inference.Request{Model: r.Model, Messages: msgs, MaxTokens: maxTokens, Stop: []string(r.Stop), Sampling: s, Format: format}
	if r.Logprobs {
		p.req.Logprobs = true
		if r.TopLogprobs != nil {
			p.req.TopLogprobs = *r.TopLogprobs
		}
	}
	// The engine's own rules (ranges, message and size limits), the same for every front end.
	if err := p.req.Validate(); err != nil {
		return p, fromEngine(err)
	}
	return p, nil
}

// forChoice returns the engine request for choice i of n: seeded requests give each
// choice its own seed, so n > 1 yields n different samples, reproducibly.
func (p chatParams) forChoice(i int) inference.Request {
	req := p.req
	if p.seeded && i > 0 {
		req.Sampling.Seed += uint64(i)
	}
	return req
}

func toModel(m inference.ModelInfo, remote bool) Model {
	note := ""
	if m.Synthetic {
		note = "synthetic model: random untrained weights, output is meaningless text"
	}
	return Model{
		ID: m.ID, Object: "model", Created: m.LoadedAt.Unix(), OwnedBy: "aria-protocol",
		Permission: []any{}, Root: m.ID, Parent: nil,
		Aria: &ModelExtra{Architecture: m.Architecture, Parameters: m.Parameters, QuantTypes: m.QuantTypes,
			ContextLength: m.SlotContext, Synthetic: m.Synthetic, Note: note, Remote: remote, FileSize: m.FileSize},
	}
}

func usageOf(prompt, completion int) Usage {
	return Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
}

func finishPtr(s string) *string { return &s }

func fingerprint(version string) string { return fmt.Sprintf("aria-v%s", version) }
