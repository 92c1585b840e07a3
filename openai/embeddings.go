package openai

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strings"

	"github.com/aria-node/aria/inference"
)

// EmbeddingBackend is a Backend that also computes embeddings (/v1/embeddings). The
// node implements it: locally, or through a peer.
type EmbeddingBackend interface {
	Embed(ctx context.Context, req inference.EmbedRequest) (inference.EmbedResult, error)
}

// MaxEmbeddingInputs is the most inputs one request may carry, as OpenAI allows.
const MaxEmbeddingInputs = 2048

// EmbeddingRequest is the body of POST /v1/embeddings.
type EmbeddingRequest struct {
	Model          string         `json:"model"`
	Input          EmbeddingInput `json:"input"`
	EncodingFormat string         `json:"encoding_format"`
	Dimensions     *int           `json:"dimensions"`
	User           string         `json:"user"`
}

// EmbeddingInput is "input": a string, an array of strings, an array of token ids or
// an array of token-id arrays.
type EmbeddingInput struct {
	Texts  []string
	Tokens [][]int32
	set    bool
}

func (in *EmbeddingInput) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	in.set = true
	bad := &fieldError{field: "input", msg: "must be a string, an array of strings, an array of token ids or an array of token-id arrays"}
	switch {
	case bytes.Equal(b, []byte("null")):
		in.set = false
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return bad
		}
		in.Texts = []string{s}
		return nil
	case len(b) > 0 && b[0] == '[':
		var raw []json.RawMessage
		if err := json.Unmarshal(b, &raw); err != nil {
			return bad
		}
		if len(raw) == 0 {
			return nil
		}
		switch first := bytes.TrimSpace(raw[0]); {
		case len(first) > 0 && first[0] == '"':
			if err := json.Unmarshal(b, &in.Texts); err != nil {
				return bad
			}
		case len(first) > 0 && first[0] == '[':
			if err := json.Unmarshal(b, &in.Tokens); err != nil {
				return bad
			}
		default:
			var one []int32
			if err := json.Unmarshal(b, &one); err != nil {
				return bad
			}
			in.Tokens = [][]int32{one}
		}
		return nil
	}
	return bad
}

// Inputs is the number of inputs.
func (in EmbeddingInput) Inputs() int { return len(in.Texts) + len(in.Tokens) }

// EmbeddingList is the response.
type EmbeddingList struct {
	Object string          `json:"object"`
	Data   []Embedding     `json:"data"`
	Model  string          `json:"model"`
	Usage  EmbeddingsUsage `json:"usage"`
}

// Embedding is one vector: []float32, or a base64 string of little-endian float32s.
type Embedding struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"`
}

// EmbeddingsUsage counts the tokens embedded.
type EmbeddingsUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

// validate checks a decoded request; errors name the field.
func (req *EmbeddingRequest) validate() *APIError {
	switch {
	case req.Model == "":
		return invalidRequest("'model' field is required")
	case !req.Input.set:
		return invalidRequest("'input' field is required")
	case len(req.Input.Texts)+len(req.Input.Tokens) == 0:
		return invalidRequest("'input' must not be empty")
	case len(req.Input.Texts)+len(req.Input.Tokens) > MaxEmbeddingInputs:
		return invalidRequest("'input' may hold at most %d inputs, got %d", MaxEmbeddingInputs, len(req.Input.Texts)+len(req.Input.Tokens))
	case req.Dimensions != nil:
		return invalidRequest("'dimensions' is not supported: aria returns the model's full embedding size")
	case req.EncodingFormat != "" && req.EncodingFormat != "float" && req.EncodingFormat != "base64":
		return invalidRequest("'encoding_format' must be float or base64, got %q", req.EncodingFormat)
	}
	for i, t := range req.Input.Texts {
		if t == "" {
			return invalidRequest("'input[%d]' must not be an empty string", i)
		}
	}
	for i, t := range req.Input.Tokens {
		if len(t) == 0 {
			return invalidRequest("'input[%d]' must not be an empty token array", i)
		}
	}
	return nil
}

func (s *Server) handleEmbeddings(w http.ResponseWriter, r *http.Request) {
	req := new(EmbeddingRequest)
	if !s.decodeRequest(w, r, req) {
		return
	}
	if apiErr := req.validate(); apiErr != nil {
		writeError(w, apiErr)
		return
	}
	eb, ok := s.cfg.Backend.(EmbeddingBackend)
	if !ok {
		writeError(w, &APIError{Status: http.StatusServiceUnavailable, Type: TypeServiceUnavailable, Code: "embeddings_unavailable", Message: "this server does not compute embeddings"})
		return
	}
	if !s.hasModel(req.Model) {
		writeError(w, modelNotFound(req.Model))
		return
	}
	if end, apiErr := s.admitOther(r, "embeddings", req.Model, strings.Join(req.Input.Texts, " ")); apiErr != nil {
		writeError(w, apiErr)
		return
	} else if end != nil {
		defer end()
	}
	res, err := eb.Embed(r.Context(), inference.EmbedRequest{Model: req.Model, Texts: req.Input.Texts, Tokens: req.Input.Tokens})
	if err != nil {
		if r.Context().Err() == nil {
			writeError(w, fromEngine(err))
		}
		return
	}
	s.metrics.embedded(req.Model, res.PromptTokens)
	if sink := usageSinkFrom(r.Context()); sink != nil {
		sink.AddUsage(res.PromptTokens, 0)
	}
	out := EmbeddingList{Object: "list", Model: req.Model, Data: make([]Embedding, len(res.Vectors)),
		Usage: EmbeddingsUsage{PromptTokens: res.PromptTokens, TotalTokens: res.PromptTokens}}
	for i, v := range res.Vectors {
		e := Embedding{Object: "embedding", Index: i, Embedding: v}
		if req.EncodingFormat == "base64" {
			e.Embedding = base64Floats(v)
		}
		out.Data[i] = e
	}
	writeJSON(w, http.StatusOK, out)
}

// base64Floats encodes v as OpenAI does: little-endian float32s in base64.
func base64Floats(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// admitOther runs the chat hook (the node's consent admission) around a request of
// another endpoint, so completions and embeddings are admitted like chat. end, when
// not nil, must be called once the response is over.
func (s *Server) admitOther(r *http.Request, endpoint, model, text string) (func(), *APIError) {
	if s.cfg.Chat == nil {
		return nil, nil
	}
	info := chatInfo(r, &ChatCompletionRequest{}, chatParams{req: inference.Request{Model: model}})
	info.UserMessages, info.Endpoint = []string{text}, endpoint
	turn, err := s.cfg.Chat.BeginChat(r.Context(), info)
	if err != nil {
		return nil, fromEngine(err)
	}
	if turn.End == nil {
		return nil, nil
	}
	return func() { turn.End(true) }, nil
}
