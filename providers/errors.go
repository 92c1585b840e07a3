package providers

import (
	"errors"
	"fmt"
)

// ErrUnknownModel is wrapped by errors for a name no provider serves, and for a tier
// with no model configured.
var ErrUnknownModel = errors.New("unknown model")

// RateLimitError is an upstream's 429. RetryAfter is in seconds (from Retry-After; 0
// when the upstream gave none).
type RateLimitError struct {
	Provider   string
	RetryAfter int
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("Rate limit exceeded for provider '%s'", e.Provider)
}

// UpstreamError is a provider that failed: a timeout, a transport error, an HTTP error
// status, a body that is not an OpenAI answer, or a body or stream beyond the client's
// limits. Status is the upstream's HTTP status (0 when none was received).
type UpstreamError struct {
	Provider string
	Status   int
	Timeout  bool
	Msg      string
	// Type and Code are the upstream's error.type and error.code, when it sent them.
	Type, Code string
	// RetryAfter is the upstream's Retry-After in seconds (0: none).
	RetryAfter int
	Err        error
}

func (e *UpstreamError) Error() string {
	s := fmt.Sprintf("provider '%s': %s", e.Provider, e.Msg)
	if e.Status != 0 {
		s = fmt.Sprintf("provider '%s': HTTP %d: %s", e.Provider, e.Status, e.Msg)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *UpstreamError) Unwrap() error { return e.Err }
