package inference

import "math"

// Limits on one request, the same for every front end (HTTP, WebSocket, peers):
// preparing a prompt must stay cheap whatever a client sends.
const (
	MaxMessages     = 4096    // messages in one chat
	MaxContentBytes = 1 << 20 // the prompt, or all message contents together
	MaxStops        = 16      // stop sequences
	MaxStopBytes    = 256     // one stop sequence
)

// checkLimits is the size part of Request.Validate.
func (r Request) checkLimits() error {
	if len(r.Messages) > MaxMessages {
		return invalid("messages", "at most %d messages per request, got %d", MaxMessages, len(r.Messages))
	}
	total := len(r.Prompt)
	for _, m := range r.Messages {
		total += len(m.Content)
	}
	if total > MaxContentBytes {
		return invalid("messages", "the contents total %d bytes; at most %d bytes per request", total, MaxContentBytes)
	}
	if len(r.Stop) > MaxStops {
		return invalid("stop", "at most %d sequences, got %d", MaxStops, len(r.Stop))
	}
	for i, s := range r.Stop {
		if len(s) > MaxStopBytes {
			return invalid("stop", "sequence %d has %d bytes; at most %d", i, len(s), MaxStopBytes)
		}
	}
	return nil
}

func finite(f float32) bool { return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) }
