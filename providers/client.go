package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Provider is one backend that serves chat turns. It receives the provider's own model
// id in ChatRequest.Model.
type Provider interface {
	Name() string
	Chat(ctx context.Context, req ChatRequest) (*ChatResponse, error)
	ChatStream(ctx context.Context, req ChatRequest, fn func(Delta) error) (*ChatResponse, error)
}

// ModelLister is a Provider that can say which models it serves now.
type ModelLister interface {
	ListModels(ctx context.Context) ([]ModelInfo, error)
}

// Client defaults: a whole turn (stream included) must end within DefaultTimeout, and
// an answer (a body, or all of a stream) may not exceed DefaultMaxBytes.
const (
	DefaultTimeout  = 120 * time.Second
	DefaultMaxBytes = 16 << 20
)

// Client is an OpenAI-compatible upstream: POST {base}/chat/completions and
// GET {base}/models, with a bearer key when one is set.
type Client struct {
	name     string
	base     string
	key      string
	kind     string
	hc       *http.Client
	timeout  time.Duration
	maxBytes int64
	log      *slog.Logger
}

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithTransport sends the client's requests through rt (the node's in-process handler
// for its built-in providers; tests may use it too). Default: a transport of its own.
func WithTransport(rt http.RoundTripper) ClientOption {
	return func(c *Client) { c.hc = &http.Client{Transport: rt} }
}

// WithTimeout bounds a whole turn, streamed or not (default DefaultTimeout).
func WithTimeout(d time.Duration) ClientOption { return func(c *Client) { c.timeout = d } }

// WithMaxBytes bounds an answer's body or a whole stream (default DefaultMaxBytes).
func WithMaxBytes(n int64) ClientOption { return func(c *Client) { c.maxBytes = n } }

// WithKind sets what ModelInfo.Kind the client's models report (default "upstream").
func WithKind(kind string) ClientOption { return func(c *Client) { c.kind = kind } }

// WithLogger sets the logger (default slog.Default()). The API key is never logged.
func WithLogger(l *slog.Logger) ClientOption { return func(c *Client) { c.log = l } }

// NewClient makes the client of the provider name at baseURL (e.g.
// "https://api.groq.com/openai/v1"; the /chat/completions and /models paths are
// appended). apiKey may be empty.
func NewClient(name, baseURL, apiKey string, opts ...ClientOption) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("provider '%s': api_base %q is not an http(s) URL", name, baseURL)
	}
	c := &Client{
		name: name, base: strings.TrimRight(baseURL, "/"), key: apiKey, kind: "upstream",
		timeout: DefaultTimeout, maxBytes: DefaultMaxBytes, log: slog.Default(),
	}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		c.hc = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: c.timeout,
			MaxIdleConnsPerHost:   8,
			IdleConnTimeout:       90 * time.Second,
		}}
	}
	return c, nil
}

// Name is the provider's configured name.
func (c *Client) Name() string { return c.name }

// BaseURL is the provider's API base.
func (c *Client) BaseURL() string { return c.base }

// Chat sends one non-streamed turn.
func (c *Client) Chat(ctx context.Context, req ChatRequest) (*ChatResponse, error) {
	req.Stream = false
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.post(ctx, req)
	if err != nil {
		return nil, c.wrap(ctx, err)
	}
	defer resp.Body.Close()
	body, err := readLimited(resp.Body, c.maxBytes)
	if err != nil {
		return nil, c.wrap(ctx, err)
	}
	out, err := decodeCompletion(body)
	if err != nil {
		return nil, c.wrap(ctx, err)
	}
	return c.finish(out, req), nil
}

// ChatStream sends one streamed turn, calling fn for every delta, and returns the
// assembled response. An error from fn stops the stream and is returned as is.
func (c *Client) ChatStream(ctx context.Context, req ChatRequest, fn func(Delta) error) (*ChatResponse, error) {
	req.Stream = true
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.post(ctx, req)
	if err != nil {
		return nil, c.wrap(ctx, err)
	}
	defer resp.Body.Close()
	var body io.Reader = &limitedReader{r: resp.Body, left: c.maxBytes}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		// Some servers answer a stream request with a plain completion.
		b, err := readLimited(body, c.maxBytes)
		if err != nil {
			return nil, c.wrap(ctx, err)
		}
		out, err := decodeCompletion(b)
		if err != nil {
			return nil, c.wrap(ctx, err)
		}
		if out.Message.Content != "" || len(out.Message.ToolCalls) > 0 {
			d := Delta{Content: out.Message.Content}
			for i, tc := range out.Message.ToolCalls {
				d.ToolCalls = append(d.ToolCalls, ToolCallDelta{Index: i, ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
			}
			if err := fn(d); err != nil {
				return nil, err
			}
		}
		return c.finish(out, req), nil
	}
	out, err := decodeStream(body, fn)
	if err != nil {
		var cb *callbackError
		if errors.As(err, &cb) {
			return nil, cb.err
		}
		return nil, c.wrap(ctx, err)
	}
	return c.finish(out, req), nil
}

// ListModels asks the provider's GET /models.
func (c *Client) ListModels(ctx context.Context) ([]ModelInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, min(c.timeout, 15*time.Second))
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/models", nil)
	if err != nil {
		return nil, err
	}
	c.authorize(hreq)
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return nil, c.wrap(ctx, err)
	}
	defer resp.Body.Close()
	body, err := readLimited(resp.Body, c.maxBytes)
	if err != nil {
		return nil, c.wrap(ctx, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, c.wrap(ctx, c.statusError(resp, body))
	}
	var list struct {
		Data []struct {
			ID      string `json:"id"`
			OwnedBy string `json:"owned_by"`
			Aria    *struct {
				ContextLength int  `json:"context_length"`
				Remote        bool `json:"remote"`
			} `json:"aria"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, c.wrap(ctx, fmt.Errorf("%w: models list: %v", errMalformed, err))
	}
	out := make([]ModelInfo, 0, len(list.Data))
	for _, m := range list.Data {
		mi := ModelInfo{Name: m.ID, Provider: c.name, ModelID: m.ID, Kind: c.kind, OwnedBy: m.OwnedBy}
		if m.Aria != nil {
			mi.ContextLength = m.Aria.ContextLength
		}
		out = append(out, mi)
	}
	return out, nil
}

func (c *Client) authorize(r *http.Request) {
	if c.key != "" {
		r.Header.Set("Authorization", "Bearer "+c.key)
	}
}

// post sends the request and returns a 200 answer; any other status is an error.
func (c *Client) post(ctx context.Context, req ChatRequest) (*http.Response, error) {
	wire := struct {
		ChatRequest
		StreamOptions *streamOptions `json:"stream_options,omitempty"`
	}{ChatRequest: req}
	if req.Stream {
		wire.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	body, err := json.Marshal(wire)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	if req.Stream {
		hreq.Header.Set("Accept", "text/event-stream")
	}
	c.authorize(hreq)
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := readLimited(resp.Body, 64<<10)
	return nil, c.statusError(resp, b)
}

// statusError maps a non-200 answer: 429 is a RateLimitError, 404 for an unknown
// model is ErrUnknownModel, anything else an UpstreamError with the upstream's message.
func (c *Client) statusError(resp *http.Response, body []byte) error {
	if resp.StatusCode == http.StatusTooManyRequests {
		return &RateLimitError{Provider: c.name, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	}
	var eb struct {
		Error *errorBody `json:"error"`
	}
	msg := http.StatusText(resp.StatusCode)
	ue := &UpstreamError{Provider: c.name, Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	if json.Unmarshal(body, &eb) == nil && eb.Error != nil && eb.Error.Message != "" {
		msg, ue.Type, ue.Code = eb.Error.Message, eb.Error.Type, eb.Error.code()
	}
	ue.Msg = truncate(msg, 300)
	if resp.StatusCode == http.StatusNotFound && ue.Code == "model_not_found" {
		return fmt.Errorf("%w: %s", ErrUnknownModel, ue.Error())
	}
	return ue
}

// wrap turns a transport, limit or decoding error into an UpstreamError; typed errors
// pass through.
func (c *Client) wrap(ctx context.Context, err error) error {
	var rl *RateLimitError
	var ue *UpstreamError
	if errors.As(err, &rl) || errors.As(err, &ue) || errors.Is(err, ErrUnknownModel) {
		return err
	}
	if ctx.Err() == context.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded) {
		return &UpstreamError{Provider: c.name, Timeout: true, Msg: fmt.Sprintf("no complete answer within %s", c.timeout)}
	}
	if errors.Is(err, context.Canceled) {
		return err // the caller went away
	}
	var se *streamError
	switch {
	case errors.As(err, &se):
		return &UpstreamError{Provider: c.name, Msg: truncate(se.body.Message, 300), Type: se.body.Type, Code: se.body.code()}
	case errors.Is(err, errTooLarge):
		return &UpstreamError{Provider: c.name, Msg: fmt.Sprintf("answer larger than %d bytes", c.maxBytes)}
	case errors.Is(err, errMalformed):
		return &UpstreamError{Provider: c.name, Msg: "answer is not an OpenAI chat completion", Err: err}
	}
	return &UpstreamError{Provider: c.name, Msg: "request failed", Err: err}
}

// finish fills what the caller needs when the upstream left it out.
func (c *Client) finish(out *ChatResponse, req ChatRequest) *ChatResponse {
	out.Provider = c.name
	if out.ModelID == "" {
		out.ModelID = req.Model
	}
	if out.FinishReason == "" {
		out.FinishReason = "stop"
		if len(out.Message.ToolCalls) > 0 {
			out.FinishReason = "tool_calls"
		}
	}
	if out.Usage.TotalTokens == 0 && out.Usage.PromptTokens == 0 && out.Usage.CompletionTokens == 0 {
		out.Usage, out.UsageEstimated = estimateUsage(req, out.Message), true
	} else if out.Usage.TotalTokens == 0 {
		out.Usage.TotalTokens = out.Usage.PromptTokens + out.Usage.CompletionTokens
	}
	return out
}

// estimateUsage counts about 4 bytes a token, for upstreams that report no usage.
func estimateUsage(req ChatRequest, m Message) Usage {
	in := 0
	for _, msg := range req.Messages {
		in += len(msg.Content) + 4
	}
	outBytes := len(m.Content)
	for _, tc := range m.ToolCalls {
		outBytes += len(tc.Function.Name) + len(tc.Function.Arguments)
	}
	u := Usage{PromptTokens: (in + 3) / 4, CompletionTokens: (outBytes + 3) / 4}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
}

func retryAfter(h string) int {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if n, err := strconv.Atoi(h); err == nil && n >= 0 {
		return n
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := time.Until(t); d > 0 {
			return int(d.Seconds() + 0.999)
		}
	}
	return 0
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

var errTooLarge = errors.New("answer too large")

// limitedReader fails (instead of ending quietly as io.LimitReader does) once more
// than left bytes are read.
type limitedReader struct {
	r    io.Reader
	left int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte
		if n, err := l.r.Read(one[:]); n == 0 && err != nil {
			return 0, err // the answer ended exactly at the limit
		}
		return 0, errTooLarge
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

func readLimited(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, errTooLarge
	}
	return b, nil
}
