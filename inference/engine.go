// Package inference defines text generation without any native code: the Engine
// interface, requests and results, the sentinel errors callers map to protocol errors,
// and request validation. It builds with CGO_ENABLED=0.
//
// The llama.cpp-backed engine (model registry, continuous batching, sampling, stop
// strings, chat templates) is inference/local; the GGUF tooling is in the other
// subpackages.
package inference

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Callers map them to protocol errors in one place (openai, p2p).
var (
	// ErrBusy: every slot is taken and the wait queue is full. Retry later.
	ErrBusy = errors.New("inference: all slots busy and the wait queue is full")
	// ErrModelNotFound: no loaded model has the requested id.
	ErrModelNotFound = errors.New("inference: model not found")
	// ErrInvalidRequest wraps every problem with a request's content; the message names the field.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrContextLength: the prompt does not fit in a slot's context window.
	ErrContextLength = errors.New("prompt does not fit in the context window")
	// ErrClosed: the engine (or the model) is shutting down.
	ErrClosed = errors.New("inference: engine closed")
	// ErrUnreachable: the model is served by peers that cannot be reached now (they were seen recently).
	ErrUnreachable = errors.New("inference: the model's providers are unreachable")
	// ErrKernelUnavailable: the native kernel could not load the model.
	ErrKernelUnavailable = errors.New("inference: native kernel unavailable")
)

// InvalidError reports a bad request field. It matches ErrInvalidRequest with errors.Is.
type InvalidError struct {
	Field string
	Msg   string
}

func (e *InvalidError) Error() string        { return fmt.Sprintf("invalid '%s': %s", e.Field, e.Msg) }
func (e *InvalidError) Is(target error) bool { return target == ErrInvalidRequest }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Finish reasons, as OpenAI names them.
const (
	FinishStop   = "stop"   // end-of-generation token or a stop string
	FinishLength = "length" // max_tokens or the context window reached
)

// Message is one chat message.
type Message struct {
	Role    string // system, user or assistant
	Content string
}

// Sampling holds per-request sampling parameters. The zero value is not useful: start
// from DefaultSampling.
type Sampling struct {
	Temperature      float32 // 0 = greedy
	TopP             float32 // 1 = off
	TopK             int     // 0 = off
	MinP             float32 // 0 = off
	Seed             uint64
	RandomSeed       bool    // pick a seed from the OS; Seed is ignored
	RepeatPenalty    float32 // 1 = off; divides positive logits of recent tokens
	RepeatLastN      int     // how many recent tokens (prompt included) the penalties look at
	PresencePenalty  float32 // subtracted once from each token seen in the window
	FrequencyPenalty float32 // subtracted per occurrence in the window
}

// DefaultSampling mirrors OpenAI's defaults: temperature 1, no truncation, no penalties.
func DefaultSampling() Sampling {
	return Sampling{Temperature: 1, TopP: 1, RepeatPenalty: 1, RepeatLastN: 64, RandomSeed: true}
}

// Validate checks every field's range; the error is an *InvalidError naming the field.
func (s Sampling) Validate() error {
	switch {
	case s.Temperature < 0 || s.Temperature > 2 || !finite(s.Temperature):
		return invalid("temperature", "must be between 0 and 2, got %v", s.Temperature)
	case s.TopP <= 0 || s.TopP > 1 || !finite(s.TopP):
		return invalid("top_p", "must be in (0, 1], got %v", s.TopP)
	case s.TopK < 0:
		return invalid("top_k", "must be >= 0, got %d", s.TopK)
	case s.MinP < 0 || s.MinP >= 1:
		return invalid("min_p", "must be in [0, 1), got %v", s.MinP)
	case s.RepeatPenalty <= 0:
		return invalid("repeat_penalty", "must be > 0, got %v", s.RepeatPenalty)
	case s.RepeatLastN < 0:
		return invalid("repeat_last_n", "must be >= 0, got %d", s.RepeatLastN)
	case s.PresencePenalty < -2 || s.PresencePenalty > 2:
		return invalid("presence_penalty", "must be in [-2, 2], got %v", s.PresencePenalty)
	case s.FrequencyPenalty < -2 || s.FrequencyPenalty > 2:
		return invalid("frequency_penalty", "must be in [-2, 2], got %v", s.FrequencyPenalty)
	}
	return nil
}

// Request is one generation. Exactly one of Prompt and Messages is set: Messages are
// rendered with the model's chat template, Prompt is used as is.
type Request struct {
	Model     string
	Prompt    string
	Messages  []Message
	MaxTokens int      // > 0
	Stop      []string // never emitted; generation ends with FinishStop
	Sampling  Sampling
	// Format, when set, constrains the output to a grammar (structured outputs, tool
	// calls); a generation cut by MaxTokens inside it ends with FinishLength.
	Format *Format
	// Logprobs asks for each token's log-probability (Token.Logprob), with the
	// TopLogprobs (0-20) most likely alternatives.
	Logprobs    bool
	TopLogprobs int
	// Remote marks work done for someone other than the node's owner (a peer, a
	// non-loopback client, a gateway's client): it runs under the consent contract's
	// CPU share. The owner's own requests (Remote false) run at full speed.
	Remote bool
	// TaskType is the task type the client declared for the consent contract ("":
	// classified from the last user message).
	TaskType string
}

// Token is one streamed piece of output text. Text may be empty when a token's bytes
// are held back (part of a possible stop string or of an incomplete UTF-8 sequence).
type Token struct {
	// ID is the vocabulary id, or FlushToken for text held back (an incomplete UTF-8
	// sequence, a possible stop-string prefix) and released at the end: not a token.
	ID   int32
	Text string
	// Bytes and Logprob are set when the request asked for logprobs: the token's own
	// bytes (Text may hold some back) and its log-probability.
	Bytes   []byte
	Logprob *TokenLogprob
}

// FlushToken is the ID of a Token that only releases held-back text.
const FlushToken int32 = -1

// Result summarises a finished generation.
type Result struct {
	Text             string
	FinishReason     string
	PromptTokens     int
	CompletionTokens int
	// Queued is the time spent waiting for a slot; TimeToFirstToken runs from Generate's
	// start to the first sampled token; Decode covers first token to finish.
	Queued           time.Duration
	TimeToFirstToken time.Duration
	Decode           time.Duration
}

// ModelInfo describes a loaded model.
type ModelInfo struct {
	ID            string    `json:"id"`
	Path          string    `json:"path"`
	Architecture  string    `json:"architecture"`
	Name          string    `json:"name,omitempty"`
	Parameters    uint64    `json:"parameters"`
	FileSize      int64     `json:"file_size"`
	QuantTypes    []string  `json:"quant_types"`
	VocabSize     int       `json:"vocab_size"`
	ContextLength int       `json:"context_length"` // trained context
	SlotContext   int       `json:"slot_context"`   // context window per request
	Slots         int       `json:"slots"`
	ChatTemplate  string    `json:"chat_template,omitempty"`
	Synthetic     bool      `json:"synthetic"`    // random weights: the output is meaningless text
	MemoryBytes   uint64    `json:"memory_bytes"` // estimated weights + KV cache
	LoadedAt      time.Time `json:"loaded_at"`
}

// Stats is a point-in-time view of an engine's load.
type Stats struct {
	ActiveSlots int
	TotalSlots  int
	Queued      int
	QueueSize   int
}

// Engine generates text with resident models. Implementations are safe for concurrent use.
type Engine interface {
	// Models lists the loaded models.
	Models() []ModelInfo
	// Tokenize returns the token ids of text under model's vocabulary (no special tokens added).
	Tokenize(ctx context.Context, model, text string) ([]int32, error)
	// Generate runs req, calling onToken from the caller's goroutine for every piece of
	// output as it is produced. An error from onToken, or ctx ending, cancels the
	// generation and frees its slot.
	Generate(ctx context.Context, req Request, onToken func(Token) error) (Result, error)
	// Embed returns one mean-pooled, L2-normalised embedding per text.
	Embed(ctx context.Context, model string, texts []string) ([][]float32, error)
	// Stats reports slot and queue occupancy summed over models.
	Stats() Stats
	// Close stops all models, failing queued and running requests with ErrClosed.
	Close() error
}
