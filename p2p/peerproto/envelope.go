package peerproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Protocol is the value of every envelope's "protocol" field this package sends.
const Protocol = "aria/0.1"

// Message types.
const (
	TypeWelcome           = "welcome"
	TypeHello             = "hello"
	TypeHelloAck          = "hello_ack"
	TypeInferenceRequest  = "inference_request"
	TypeInferenceChunk    = "inference_chunk"
	TypeInferenceResponse = "inference_response"
	TypeCancel            = "cancel"
	TypeGetStats          = "get_stats"
	TypeStats             = "stats"
	TypeGetPeers          = "get_peers"
	TypePeersList         = "peers_list"
	TypePing              = "ping"
	TypePong              = "pong"
	TypeError             = "error"
)

// Error codes carried in error messages (data.code).
const (
	CodeInvalidRequest  = "invalid_request"
	CodeModelNotFound   = "model_not_found"
	CodeBusy            = "busy"
	CodeRefused         = "refused"
	CodeHopLimit        = "hop_limit"
	CodeInternal        = "internal"
	CodeUnauthorized    = "unauthorized"
	CodeFrameTooLarge   = "frame_too_large"
	CodeMalformed       = "malformed"
	CodeTooManyRequests = "too_many_requests"
	CodeShuttingDown    = "shutting_down"
	CodeUnknownType     = "unknown_type"
	CodeCancelled       = "cancelled"
)

// Envelope is one protocol message: one JSON text frame.
type Envelope struct {
	Type      string          `json:"type"`
	RequestID string          `json:"request_id"`
	SenderID  string          `json:"sender_id"`
	Data      json.RawMessage `json:"data"`
	Timestamp float64         `json:"timestamp"`
	Protocol  string          `json:"protocol"`
}

var errNotObject = errors.New("envelope is not a JSON object")

// DecodeEnvelope parses one frame. It is strict about shape: the frame must be
// exactly one JSON object, without duplicate known keys, with a non-empty string
// "type"; request_id, sender_id and protocol must be strings (or null),
// timestamp a number (or null). Keys match exactly (unlike encoding/json's
// case-folding), and unknown keys are skipped so later minor versions can add
// fields. A JSON null data is returned as nil Data.
//
// On error the returned Envelope holds whatever was read before the error (its
// RequestID lets a server correlate the error reply).
func DecodeEnvelope(b []byte) (Envelope, error) {
	var e Envelope
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return e, fmt.Errorf("decode envelope: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return e, errNotObject
	}
	seen := make(map[string]bool, 6)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return e, fmt.Errorf("decode envelope: %w", err)
		}
		key, _ := tok.(string) // object keys are always strings
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return e, fmt.Errorf("decode envelope %q: %w", key, err)
		}
		switch key {
		case "type", "request_id", "sender_id", "protocol", "timestamp", "data":
		default:
			continue
		}
		if seen[key] {
			return e, fmt.Errorf("decode envelope: duplicate key %q", key)
		}
		seen[key] = true
		switch key {
		case "type":
			err = decodeString(raw, &e.Type)
		case "request_id":
			err = decodeString(raw, &e.RequestID)
		case "sender_id":
			err = decodeString(raw, &e.SenderID)
		case "protocol":
			err = decodeString(raw, &e.Protocol)
		case "timestamp":
			if !isNull(raw) {
				err = json.Unmarshal(raw, &e.Timestamp)
			}
		case "data":
			if !isNull(raw) {
				e.Data = raw
			}
		}
		if err != nil {
			return e, fmt.Errorf("decode envelope %q: %w", key, err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return e, fmt.Errorf("decode envelope: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return e, errors.New("decode envelope: trailing data after the object")
	}
	if e.Type == "" {
		return e, errors.New("decode envelope: missing type")
	}
	return e, nil
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

func decodeString(raw json.RawMessage, dst *string) error {
	if isNull(raw) {
		return nil
	}
	if len(raw) == 0 || raw[0] != '"' {
		return errors.New("not a string")
	}
	return json.Unmarshal(raw, dst)
}

// newEnvelope builds an outgoing envelope; data is marshalled (nil → JSON null).
func newEnvelope(typ, requestID, senderID string, data any) ([]byte, error) {
	var raw json.RawMessage
	switch d := data.(type) {
	case nil:
	case json.RawMessage:
		raw = d
	default:
		b, err := json.Marshal(d)
		if err != nil {
			return nil, fmt.Errorf("marshal %s data: %w", typ, err)
		}
		raw = b
	}
	b, err := json.Marshal(Envelope{
		Type:      typ,
		RequestID: requestID,
		SenderID:  senderID,
		Data:      raw,
		Timestamp: float64(time.Now().UnixNano()) / 1e9,
		Protocol:  Protocol,
	})
	if err != nil {
		return nil, fmt.Errorf("marshal %s envelope: %w", typ, err)
	}
	return b, nil
}

// Message is one chat turn.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// InferenceRequest is the data of an inference_request. Messages, when present,
// take precedence over Query (the bare form the spec's JS client sends).
type InferenceRequest struct {
	Query string `json:"query,omitempty"` // one user turn (the spec's bare form)
	// Prompt is raw text completed as is, without the chat template (a forwarded
	// completion request); Messages and Query take precedence.
	Prompt           string    `json:"prompt,omitempty"`
	Messages         []Message `json:"messages,omitempty"`
	ModelID          string    `json:"model_id,omitempty"`
	MaxTokens        int       `json:"max_tokens,omitempty"`
	Temperature      *float64  `json:"temperature,omitempty"`
	TopP             *float64  `json:"top_p,omitempty"`
	TopK             *int      `json:"top_k,omitempty"`
	Stop             []string  `json:"stop,omitempty"`
	Seed             *int64    `json:"seed,omitempty"`
	MinP             *float64  `json:"min_p,omitempty"`
	RepeatPenalty    *float64  `json:"repeat_penalty,omitempty"`
	RepeatLastN      *int      `json:"repeat_last_n,omitempty"`
	PresencePenalty  *float64  `json:"presence_penalty,omitempty"`
	FrequencyPenalty *float64  `json:"frequency_penalty,omitempty"`
	Stream           bool      `json:"stream,omitempty"`
	// Hops counts the nodes that already forwarded this request; the Handler
	// enforces the limit (it answers hop_limit).
	Hops     int    `json:"hops,omitempty"`
	TaskType string `json:"task_type,omitempty"`
	// Remote marks work for someone other than the node's owner (a gateway's
	// non-loopback client): it runs under the consent contract. It can only restrict.
	Remote bool `json:"remote,omitempty"`
	// Format constrains the output (structured outputs, tool calls): the engine's
	// format object, which the serving node compiles and enforces itself.
	Format json.RawMessage `json:"format,omitempty"`
	// Logprobs asks for each streamed chunk's token log-probability with TopLogprobs
	// alternatives.
	Logprobs    bool `json:"logprobs,omitempty"`
	TopLogprobs int  `json:"top_logprobs,omitempty"`
}

// validate checks the protocol-level shape; semantics (model, sampling ranges,
// hop limit) are the Handler's.
func (r InferenceRequest) validate() error {
	if len(r.Messages) == 0 && r.Query == "" && r.Prompt == "" {
		return errors.New("query, prompt or messages required")
	}
	for i, m := range r.Messages {
		if m.Role == "" {
			return fmt.Errorf("messages[%d].role required", i)
		}
	}
	if r.MaxTokens < 0 {
		return errors.New("max_tokens must not be negative")
	}
	if r.Hops < 0 {
		return errors.New("hops must not be negative")
	}
	return nil
}

// Usage counts tokens of one inference.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// InferenceResponse is the data of the terminal inference_response.
type InferenceResponse struct {
	Output       string `json:"output"`
	ModelID      string `json:"model_id"`
	FinishReason string `json:"finish_reason"`
	Usage        Usage  `json:"usage"`
	NodeID       string `json:"node_id"`
}

// Chunk is the data of an inference_chunk.
type Chunk struct {
	Text string `json:"text"`
	// Token is the chunk's token with its log-probability, when the request asked for
	// logprobs.
	Token *TokenLogprob `json:"token,omitempty"`
}

// TokenLogprob is a generated token's bytes and log-probability, with the most likely
// alternatives.
type TokenLogprob struct {
	Bytes   []byte       `json:"bytes"`
	Logprob float32      `json:"logprob"`
	Top     []TopLogprob `json:"top,omitempty"`
}

// TopLogprob is one alternative token.
type TopLogprob struct {
	Bytes   []byte  `json:"bytes"`
	Logprob float32 `json:"logprob"`
}

// Welcome is the data of the welcome the server sends first on every connection.
type Welcome struct {
	Nonce    string `json:"nonce"` // base64 (standard, padded) of 32 random bytes
	PeerID   string `json:"peer_id"`
	Version  string `json:"version"`
	Protocol string `json:"protocol"`
}

// Hello is the data of a client's hello.
type Hello struct {
	PeerID    string `json:"peer_id"`
	Signature string `json:"signature"`  // base64 of the key's signature over HelloPayload
	PublicKey string `json:"public_key"` // base64 of crypto.MarshalPublicKey
}

// HelloAck is the data of hello_ack: the peer ID the server verified.
type HelloAck struct {
	PeerID string `json:"peer_id"`
}

// Error is a protocol error: the data of an error message. A Handler returns it
// (possibly wrapped) to choose the code; the client returns it for error replies.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Reason is the consent refusal reason that goes with Code "refused".
	Reason string `json:"reason,omitempty"`
	// RetryAfter (seconds) and OpensAt go with Code "refused": how long to wait before asking again, and when
	// the node's schedule next accepts work, the same as an HTTP refusal's Retry-After.
	RetryAfter int        `json:"retry_after,omitempty"`
	OpensAt    *time.Time `json:"opens_at,omitempty"`
}

func (e *Error) Error() string {
	s := "aria " + e.Code
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Reason != "" {
		s += " (reason " + e.Reason + ")"
	}
	return s
}

// Is reports whether target is an *Error with the same Code, so callers can
// write errors.Is(err, &peerproto.Error{Code: peerproto.CodeBusy}).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// ErrConnLost is matched (errors.Is) by every *ConnLostError.
var ErrConnLost = errors.New("peerproto: connection lost")

// ConnLostError is returned by Conn calls whose connection ended before the
// reply. AfterFirstToken tells a router whether it may retry elsewhere (false:
// nothing reached the caller) or must report a clean error (true).
type ConnLostError struct {
	AfterFirstToken bool
	Err             error // why the connection ended, when known
}

func (e *ConnLostError) Error() string {
	s := "peerproto: connection lost before the first token"
	if e.AfterFirstToken {
		s = "peerproto: connection lost after the first token"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ConnLostError) Is(target error) bool { return target == ErrConnLost }
func (e *ConnLostError) Unwrap() error        { return e.Err }
