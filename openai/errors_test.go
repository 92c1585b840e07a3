package openai

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aria-node/aria/inference"
)

// namesField reports whether msg names the field whose last path element is leaf, in
// the quoted form the API uses: 'leaf', 'parent.leaf' or 'parent[0].leaf'.
func namesField(msg, leaf string) bool {
	re := regexp.MustCompile(`'(?:[A-Za-z0-9_\[\].]*[.\]])?` + regexp.QuoteMeta(leaf) + `'`)
	return re.MatchString(msg)
}

func TestNamesField(t *testing.T) {
	for _, c := range []struct {
		msg, leaf string
		want      bool
	}{
		{"Invalid request: 'messages[0].role' is required", "role", true},
		{"Invalid request: 'messages.content' must be a string", "content", true},
		{"Invalid request: 'n' must be between 1 and 16", "n", true},
		{"Invalid request: 'max_tokens' must be a positive integer", "n", false},
		{"Invalid request: must be a string or an array of strings", "stop", false},
	} {
		if got := namesField(c.msg, c.leaf); got != c.want {
			t.Errorf("namesField(%q, %q) = %v", c.msg, c.leaf, got)
		}
	}
}

func TestRequestValidationErrors(t *testing.T) {
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	model := `"model":"aria-2b-1bit"`
	with := func(extra string) string { return "{" + model + "," + msgs + "," + extra + "}" }
	stops := make([]string, MaxStops+1)
	for i := range stops {
		stops[i] = strconv.Quote("s" + strconv.Itoa(i))
	}
	cases := []struct {
		name  string
		body  string
		field string // leaf of the field the message must name; "" when there is none
		text  string // substring the message must hold instead (malformed bodies)
	}{
		// Bodies that are not one JSON object.
		{name: "truncated JSON", body: `{"model":`, text: "malformed JSON"},
		{name: "not JSON", body: `{not json}`, text: "malformed JSON"},
		{name: "empty body", body: ``, text: "empty"},
		{name: "whitespace body", body: " \n\t ", text: "empty"},
		{name: "array body", body: `[]`, text: "JSON object"},
		{name: "array of request", body: "[" + with(`"n":1`) + "]", text: "JSON object"},
		{name: "string body", body: `"hello"`, text: "JSON object"},
		{name: "number body", body: `42`, text: "JSON object"},
		{name: "two objects", body: with(`"n":1`) + ` {}`, text: "single JSON object"},
		{name: "trailing garbage", body: with(`"n":1`) + `x`, text: "single JSON object"},
		{name: "null body", body: `null`, text: "JSON object, got null"},

		// Wrong JSON types.
		{name: "temperature string", body: with(`"temperature":"hot"`), field: "temperature"},
		{name: "temperature overflow", body: with(`"temperature":1e400`), field: "temperature"},
		{name: "messages string", body: `{` + model + `,"messages":"x"}`, field: "messages"},
		{name: "messages of numbers", body: `{` + model + `,"messages":[1]}`, field: "messages"},
		{name: "max_tokens fraction", body: with(`"max_tokens":1.5`), field: "max_tokens"},
		{name: "max_tokens string", body: with(`"max_tokens":"10"`), field: "max_tokens"},
		{name: "stream string", body: with(`"stream":"yes"`), field: "stream"},
		{name: "n string", body: with(`"n":"2"`), field: "n"},
		{name: "model number", body: `{"model":5,` + msgs + `}`, field: "model"},
		{name: "seed string", body: with(`"seed":"x"`), field: "seed"},
		{name: "top_p bool", body: with(`"top_p":true`), field: "top_p"},
		{name: "stream_options string", body: with(`"stream":true,"stream_options":"x"`), field: "stream_options"},
		{name: "include_usage string", body: with(`"stream":true,"stream_options":{"include_usage":"yes"}`), field: "include_usage"},
		{name: "role number", body: `{` + model + `,"messages":[{"role":5,"content":"x"}]}`, field: "role"},
		{name: "stop number", body: with(`"stop":5`), field: "stop"},
		{name: "stop array of numbers", body: with(`"stop":[1,2]`), field: "stop"},
		{name: "stop object", body: with(`"stop":{"a":1}`), field: "stop"},
		{name: "content number", body: `{` + model + `,"messages":[{"role":"user","content":5}]}`, field: "content"},
		{name: "content object", body: `{` + model + `,"messages":[{"role":"user","content":{"text":"x"}}]}`, field: "content"},
		{name: "content image part", body: `{` + model + `,"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"http://x"}}]}]}`, field: "content"},

		// Missing or invalid values.
		{name: "missing messages", body: `{` + model + `}`, field: "messages"},
		{name: "null messages", body: `{` + model + `,"messages":null}`, field: "messages"},
		{name: "empty messages", body: `{` + model + `,"messages":[]}`, field: "messages"},
		{name: "bad role", body: `{` + model + `,"messages":[{"role":"wizard","content":"x"}]}`, field: "role"},
		{name: "unknown role", body: `{` + model + `,"messages":[{"role":"robot","content":"x"}]}`, field: "role"},
		{name: "tool message without id", body: `{` + model + `,"messages":[{"role":"tool","content":"x"}]}`, field: "tool_call_id"},
		{name: "tool message without call", body: `{` + model + `,"messages":[{"role":"user","content":"q"},{"role":"tool","tool_call_id":"call_1","content":"x"}]}`, field: "tool_call_id"},
		{name: "tool_choice unknown function", body: `{` + model + `,"messages":[{"role":"user","content":"q"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}}`, field: "tool_choice.function.name"},
		{name: "tool_choice bad string", body: `{` + model + `,"messages":[{"role":"user","content":"q"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"sometimes"}`, field: "tool_choice"},
		{name: "tool_choice without tools", body: `{` + model + `,"messages":[{"role":"user","content":"q"}],"tool_choice":"required"}`, field: "tool_choice"},
		{name: "tool bad name", body: `{` + model + `,"messages":[{"role":"user","content":"q"}],"tools":[{"type":"function","function":{"name":"a b"}}]}`, field: "tools[0].function.name"},
		{name: "tool bad type", body: `{` + model + `,"messages":[{"role":"user","content":"q"}],"tools":[{"type":"retrieval","function":{"name":"f"}}]}`, field: "tools[0].type"},
		{name: "tool bad parameters", body: `{` + model + `,"messages":[{"role":"user","content":"q"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"x":{"type":"string","format":"email"}}}}}]}`, field: "tools[0].function.parameters"},
		{name: "response_format bad type", body: `{` + model + `,"messages":[{"role":"user","content":"q"}],"response_format":{"type":"yaml"}}`, field: "response_format.type"},
		{name: "response_format unsupported schema", body: `{` + model + `,"messages":[{"role":"user","content":"q"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","properties":{"a":{"not":{}}}}}}}`, field: "response_format.json_schema.schema"},
		{name: "response_format schema without name", body: `{` + model + `,"messages":[{"role":"user","content":"q"}],"response_format":{"type":"json_schema","json_schema":{"schema":{}}}}`, field: "response_format.json_schema.name"},
		{name: "top_logprobs 21", body: `{` + model + `,"messages":[{"role":"user","content":"q"}],"logprobs":true,"top_logprobs":21}`, field: "top_logprobs"},
		{name: "top_logprobs without logprobs", body: `{` + model + `,"messages":[{"role":"user","content":"q"}],"top_logprobs":2}`, field: "top_logprobs"},
		{name: "missing role", body: `{` + model + `,"messages":[{"content":"x"}]}`, field: "role"},
		{name: "second role bad", body: `{` + model + `,"messages":[{"role":"user","content":"x"},{"role":"bot","content":"y"}]}`, field: "messages[1].role"},
		{name: "missing model", body: `{` + msgs + `}`, field: "model"},
		{name: "empty model", body: `{"model":"",` + msgs + `}`, field: "model"},
		{name: "temperature -0.1", body: with(`"temperature":-0.1`), field: "temperature"},
		{name: "temperature 2.1", body: with(`"temperature":2.1`), field: "temperature"},
		{name: "top_p 0", body: with(`"top_p":0`), field: "top_p"},
		{name: "top_p 1.5", body: with(`"top_p":1.5`), field: "top_p"},
		{name: "top_p negative", body: with(`"top_p":-1`), field: "top_p"},
		{name: "n 0", body: with(`"n":0`), field: "n"},
		{name: "n 17", body: with(`"n":17`), field: "n"},
		{name: "n -1", body: with(`"n":-1`), field: "n"},
		{name: "max_tokens 0", body: with(`"max_tokens":0`), field: "max_tokens"},
		{name: "max_tokens -1", body: with(`"max_tokens":-1`), field: "max_tokens"},
		{name: "max_completion_tokens 0", body: with(`"max_completion_tokens":0`), field: "max_completion_tokens"},
		{name: "presence_penalty 3", body: with(`"presence_penalty":3`), field: "presence_penalty"},
		{name: "presence_penalty -2.5", body: with(`"presence_penalty":-2.5`), field: "presence_penalty"},
		{name: "frequency_penalty 3", body: with(`"frequency_penalty":3`), field: "frequency_penalty"},
		{name: "top_k -1", body: with(`"top_k":-1`), field: "top_k"},
		{name: "min_p 1", body: with(`"min_p":1`), field: "min_p"},
		{name: "min_p negative", body: with(`"min_p":-0.1`), field: "min_p"},
		{name: "repeat_penalty 0", body: with(`"repeat_penalty":0`), field: "repeat_penalty"},
		{name: "stream_options without stream", body: with(`"stream_options":{"include_usage":true}`), field: "stream_options"},
		{name: "stream_options with stream false", body: with(`"stream":false,"stream_options":{"include_usage":true}`), field: "stream_options"},
		{name: "too many stops", body: with(`"stop":[` + strings.Join(stops, ",") + `]`), field: "stop"},
	}
	e := newEnv(t, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.chat(tc.body)
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400; body %s", r.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			eb := assertErrorBody(t, r.body)
			if eb.Type != TypeInvalidRequest || eb.Code != "invalid_request" {
				t.Errorf("type/code %s/%s, want invalid_request_error/invalid_request", eb.Type, eb.Code)
			}
			if !strings.HasPrefix(eb.Message, "Invalid request: ") {
				t.Errorf("message %q does not start with \"Invalid request: \"", eb.Message)
			}
			if tc.field != "" && !namesField(eb.Message, tc.field) {
				t.Errorf("message %q does not name the field '%s'", eb.Message, tc.field)
			}
			if tc.text != "" && !strings.Contains(eb.Message, tc.text) {
				t.Errorf("message %q does not contain %q", eb.Message, tc.text)
			}
		})
	}
	if n := len(e.backend.requests()); n != 0 {
		t.Errorf("invalid requests reached the backend %d times", n)
	}
}

func TestMissingMessagesMatchesSpec(t *testing.T) {
	e := newEnv(t, nil)
	eb := assertErrorBody(t, e.chat(`{"model":"aria-2b-1bit"}`).body)
	if want := "Invalid request: 'messages' field is required"; eb.Message != want {
		t.Errorf("message %q, want the reference's %q", eb.Message, want)
	}
}

func TestUnknownFieldsIgnored(t *testing.T) {
	e := newEnv(t, nil)
	body := chatBody(`"logprobs":true,"top_logprobs":null,"tools":[{"type":"function","function":{"name":"f"}}],` +
		`"response_format":{"type":"text"},"metadata":{"a":"b"},"x_custom":[1,{"y":null}],"user":"u-1"`)
	r := e.chat(body)
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.status, r.body)
	}
	c := decodeObject(t, r.body)
	if c["object"] != "chat.completion" {
		t.Errorf("object %v, want chat.completion", c["object"])
	}
	// Unknown fields inside messages are ignored too.
	r = e.chat(`{"model":"aria-2b-1bit","messages":[{"role":"user","content":"hi","name":"bob","extra":{"k":1}}]}`)
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.status, r.body)
	}
}

func TestNotFoundErrors(t *testing.T) {
	e := newEnv(t, nil)
	for _, c := range []struct {
		method, path, body string
		code               string
		mention            string
	}{
		{"POST", "/v1/chat/completions", `{"model":"gpt-4","messages":[{"role":"user","content":"hi"}]}`, "model_not_found", "gpt-4"},
		{"POST", "/v1/chat/completions", `{"model":"gpt-4","stream":true,"messages":[{"role":"user","content":"hi"}]}`, "model_not_found", "gpt-4"},
		{"GET", "/v1/models/gpt-4", "", "model_not_found", "gpt-4"},
		{"GET", "/v1/models/org/model-x", "", "model_not_found", "org/model-x"},
		{"GET", "/v1/nope", "", "not_found", "Endpoint not found"},
		{"POST", "/v1/nope", `{}`, "not_found", "Endpoint not found"},
		{"GET", "/", "", "not_found", "Endpoint not found"},
		{"GET", "/v1/chat/completions/extra", "", "not_found", "Endpoint not found"},
		{"POST", "/v1/completions", `{"model":"gpt-4","prompt":"hi"}`, "model_not_found", "gpt-4"},
		{"POST", "/v1/embeddings", `{"model":"gpt-4","input":"hi"}`, "model_not_found", "gpt-4"},
		{"POST", "/v1/audio/speech", `{}`, "not_found", "Endpoint not found"},
		{"DELETE", "/v2/anything", "", "not_found", "Endpoint not found"},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			r := e.do(c.method, c.path, c.body)
			if r.status != http.StatusNotFound {
				t.Fatalf("status %d, want 404: %s", r.status, r.body)
			}
			eb := assertErrorBody(t, r.body)
			if eb.Type != TypeNotFound || eb.Code != c.code {
				t.Errorf("type/code %s/%s, want %s/%s", eb.Type, eb.Code, TypeNotFound, c.code)
			}
			if !strings.Contains(eb.Message, c.mention) {
				t.Errorf("message %q does not mention %q", eb.Message, c.mention)
			}
		})
	}
	if n := len(e.backend.requests()); n != 0 {
		t.Errorf("404s reached the backend %d times", n)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	e := newEnv(t, nil)
	for _, c := range []struct {
		method, path, allowed string
	}{
		{"GET", "/v1/chat/completions", "POST"},
		{"PUT", "/v1/chat/completions", "POST"},
		{"POST", "/v1/models", "GET"},
		{"POST", "/v1/models/aria-2b-1bit", "GET"},
		{"DELETE", "/health", "GET"},
		{"POST", "/v1/health", "GET"},
		{"PATCH", "/v1/status", "GET"},
		{"POST", "/v1/energy", "GET"},
		{"POST", "/metrics", "GET"},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			r := e.do(c.method, c.path, `{}`)
			if r.status != http.StatusMethodNotAllowed {
				t.Fatalf("status %d, want 405: %s", r.status, r.body)
			}
			allow := map[string]bool{}
			for _, m := range strings.Split(r.header.Get("Allow"), ",") {
				allow[strings.TrimSpace(m)] = true
			}
			if !allow[c.allowed] || !allow["OPTIONS"] || allow[c.method] {
				t.Errorf("Allow %q: want %s and OPTIONS, not %s", r.header.Get("Allow"), c.allowed, c.method)
			}
			eb := assertErrorBody(t, r.body)
			if eb.Type != TypeInvalidRequest || eb.Code != "method_not_allowed" {
				t.Errorf("type/code %s/%s, want invalid_request_error/method_not_allowed", eb.Type, eb.Code)
			}
			if !strings.Contains(eb.Message, c.method) || !strings.Contains(eb.Message, c.path) {
				t.Errorf("message %q does not name the method and path", eb.Message)
			}
		})
	}
}

// chunkedReader hides the body's length so the client sends it chunked.
type chunkedReader struct{ r io.Reader }

func (c chunkedReader) Read(p []byte) (int, error) { return c.r.Read(p) }

func TestBodyLimit(t *testing.T) {
	const limit = 256
	e := newEnv(t, nil, func(c *Config) { c.MaxBodyBytes = limit })
	pad := func(n int) string {
		// A valid request padded with an ignored field to exactly n bytes.
		base := chatBody(`"user":""`)
		return chatBody(`"user":"` + strings.Repeat("x", n-len(base)) + `"`)
	}
	if r := e.chat(pad(limit)); r.status != http.StatusOK {
		t.Errorf("body of exactly the limit: status %d, want 200: %s", r.status, r.body)
	}
	check := func(name string, r response) {
		t.Helper()
		if r.status != http.StatusRequestEntityTooLarge {
			t.Fatalf("%s: status %d, want 413: %s", name, r.status, r.body)
		}
		eb := assertErrorBody(t, r.body)
		if eb.Type != TypeInvalidRequest || eb.Code != "request_too_large" || !strings.Contains(eb.Message, strconv.Itoa(limit)) {
			t.Errorf("%s: error %+v, want invalid_request_error/request_too_large naming the limit", name, eb)
		}
	}
	check("limit+1", e.chat(pad(limit+1)))
	check("large", e.chat(pad(10*limit)))

	// Without a Content-Length the limit holds while reading.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", e.ts.URL+"/v1/chat/completions", chunkedReader{strings.NewReader(pad(4 * limit))})
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	check("chunked", response{status: resp.StatusCode, header: resp.Header, body: b})
	if n := len(e.backend.requests()); n != 1 {
		t.Errorf("backend called %d times, want 1 (only the request within the limit)", n)
	}
}

func TestBackendErrors(t *testing.T) {
	cases := []struct {
		name       string
		err        error
		status     int
		typ, code  string
		mention    string
		retryAfter bool
	}{
		{"busy", inference.ErrBusy, 503, TypeServiceUnavailable, "queue_full", "", true},
		{"busy wrapped", fmt.Errorf("model x: %w", inference.ErrBusy), 503, TypeServiceUnavailable, "queue_full", "", true},
		{"closed", inference.ErrClosed, 503, TypeServiceUnavailable, "node_unavailable", "", true},
		{"providers unreachable", fmt.Errorf("model x: %w", inference.ErrUnreachable), 503, TypeServiceUnavailable, "node_unavailable", "", true},
		{"kernel unavailable", inference.ErrKernelUnavailable, 503, TypeServiceUnavailable, "node_unavailable", "", false},
		{"generic", errors.New("node connection timeout"), 500, TypeServer, "inference_error", "node connection timeout", false},
		{"deadline", context.DeadlineExceeded, 500, TypeServer, "inference_error", "timeout", false},
		{"context length", fmt.Errorf("prompt of 5000 tokens: %w", inference.ErrContextLength), 400, TypeInvalidRequest, "context_length_exceeded", "context window", false},
		{"model gone", fmt.Errorf("aria-2b-1bit: %w", inference.ErrModelNotFound), 404, TypeNotFound, "model_not_found", "", false},
		{"invalid field", &inference.InvalidError{Field: "stop", Msg: "must not be empty"}, 400, TypeInvalidRequest, "invalid_request", "'stop'", false},
		{"invalid wrapped", fmt.Errorf("template: %w", inference.ErrInvalidRequest), 400, TypeInvalidRequest, "invalid_request", "template", false},
	}
	for _, tc := range cases {
		for _, mode := range []struct{ name, extra string }{{"plain", ""}, {"stream", `"stream":true`}, {"n=3", `"n":3`}, {"stream n=3", `"stream":true,"n":3`}} {
			t.Run(tc.name+"/"+mode.name, func(t *testing.T) {
				fb := newFakeBackend()
				fb.failErr, fb.failAfter = tc.err, 0
				e := newEnv(t, fb)
				r := e.chat(chatBody(mode.extra))
				if r.status != tc.status {
					t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
				}
				if ct := r.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q, want application/json (an error before any token is not a stream)", ct)
				}
				eb := assertErrorBody(t, r.body)
				if eb.Type != tc.typ || eb.Code != tc.code {
					t.Errorf("type/code %s/%s, want %s/%s", eb.Type, eb.Code, tc.typ, tc.code)
				}
				if !strings.Contains(eb.Message, tc.mention) {
					t.Errorf("message %q does not mention %q", eb.Message, tc.mention)
				}
				ra := r.header.Get("Retry-After")
				if tc.retryAfter {
					if n, err := strconv.Atoi(ra); err != nil || n <= 0 {
						t.Errorf("Retry-After %q, want a positive number of seconds", ra)
					}
				} else if ra != "" {
					t.Errorf("Retry-After %q on a %d", ra, tc.status)
				}
			})
		}
	}
}

func TestNoModels(t *testing.T) {
	fb := newFakeBackend()
	fb.models = nil
	e := newEnv(t, fb)
	for _, body := range []string{chatBody(""), chatBody(`"stream":true`)} {
		r := e.chat(body)
		if r.status != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503: %s", r.status, r.body)
		}
		eb := assertErrorBody(t, r.body)
		if eb.Type != TypeServiceUnavailable || eb.Code != "node_unavailable" {
			t.Errorf("type/code %s/%s, want service_unavailable_error/node_unavailable", eb.Type, eb.Code)
		}
		if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n <= 0 {
			t.Errorf("Retry-After %q, want a positive number", r.header.Get("Retry-After"))
		}
	}
	if n := len(fb.requests()); n != 0 {
		t.Errorf("backend called %d times with no models", n)
	}
}

func TestEnergyUnavailable(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.Energy = nil })
	r := e.do("GET", "/v1/energy", "")
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", r.status)
	}
	if eb := assertErrorBody(t, r.body); eb.Type != TypeServiceUnavailable {
		t.Errorf("type %s, want %s", eb.Type, TypeServiceUnavailable)
	}
}
