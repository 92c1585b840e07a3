package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/aria-node/aria/consent"
	"github.com/aria-node/aria/inference"
)

// Error types and codes, as the API reference names them.
const (
	TypeInvalidRequest     = "invalid_request_error"
	TypeNotFound           = "not_found_error"
	TypeServer             = "server_error"
	TypeServiceUnavailable = "service_unavailable_error"
)

// APIError is an error with its HTTP status and wire form.
type APIError struct {
	Status     int
	Type       string
	Code       string
	Message    string
	RetryAfter int // seconds; sets Retry-After when > 0
}

func (e *APIError) Error() string { return e.Message }

func invalidRequest(format string, args ...any) *APIError {
	return &APIError{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Code: "invalid_request",
		Message: "Invalid request: " + fmt.Sprintf(format, args...)}
}

func notFound() *APIError {
	return &APIError{Status: http.StatusNotFound, Type: TypeNotFound, Code: "not_found", Message: "Endpoint not found"}
}

func modelNotFound(id string) *APIError {
	return &APIError{Status: http.StatusNotFound, Type: TypeNotFound, Code: "model_not_found",
		Message: fmt.Sprintf("The model '%s' does not exist or is not served by this node", id)}
}

func methodNotAllowed(method, path string) *APIError {
	return &APIError{Status: http.StatusMethodNotAllowed, Type: TypeInvalidRequest, Code: "method_not_allowed",
		Message: fmt.Sprintf("Method %s is not allowed on %s", method, path)}
}

func tooLarge(limit int64) *APIError {
	return &APIError{Status: http.StatusRequestEntityTooLarge, Type: TypeInvalidRequest, Code: "request_too_large",
		Message: fmt.Sprintf("Invalid request: the body exceeds the limit of %d bytes", limit)}
}

// fromEngine maps an engine error to the API's error: the one place where sentinels
// become status codes.
func fromEngine(err error) *APIError {
	var api *APIError
	var inv *inference.InvalidError
	var ref *consent.Refusal
	switch {
	case errors.As(err, &api):
		return api
	case errors.As(err, &ref):
		// A consent refusal, local or relayed by a peer: 503 with the reason code, and Retry-After
		// when waiting helps (until the schedule opens, or a second for a full node).
		retry := 0
		if ref.RetryAfter > 0 {
			retry = int(min(max((ref.RetryAfter+time.Second-1)/time.Second, 1), 86400))
		}
		return Refusal(ref.Code, ref.Message, retry)
	case errors.As(err, &inv):
		return invalidRequest("'%s' %s", inv.Field, inv.Msg)
	case errors.Is(err, inference.ErrInvalidRequest):
		return invalidRequest("%v", err)
	case errors.Is(err, inference.ErrContextLength):
		return &APIError{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Code: "context_length_exceeded", Message: "Invalid request: " + err.Error()}
	case errors.Is(err, inference.ErrModelNotFound):
		return &APIError{Status: http.StatusNotFound, Type: TypeNotFound, Code: "model_not_found", Message: err.Error()}
	case errors.Is(err, inference.ErrBusy):
		return &APIError{Status: http.StatusServiceUnavailable, Type: TypeServiceUnavailable, Code: "queue_full",
			Message: "All inference slots are busy and the wait queue is full; retry shortly", RetryAfter: 1}
	case errors.Is(err, inference.ErrClosed):
		return &APIError{Status: http.StatusServiceUnavailable, Type: TypeServiceUnavailable, Code: "node_unavailable",
			Message: "ARIA node is shutting down", RetryAfter: 5}
	case errors.Is(err, inference.ErrUnreachable):
		return &APIError{Status: http.StatusServiceUnavailable, Type: TypeServiceUnavailable, Code: "node_unavailable",
			Message: err.Error(), RetryAfter: 5}
	case errors.Is(err, inference.ErrKernelUnavailable):
		return &APIError{Status: http.StatusServiceUnavailable, Type: TypeServiceUnavailable, Code: "node_unavailable", Message: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return &APIError{Status: http.StatusInternalServerError, Type: TypeServer, Code: "inference_error", Message: "Inference failed: timeout"}
	}
	return &APIError{Status: http.StatusInternalServerError, Type: TypeServer, Code: "inference_error", Message: "Inference failed: " + err.Error()}
}

func writeError(w http.ResponseWriter, e *APIError) {
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	writeJSON(w, e.Status, ErrorResponse{Error: ErrorBody{Message: e.Message, Type: e.Type, Code: e.Code}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"message":"cannot encode response","type":"server_error","code":"internal_error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
