package openai

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// jsonEndpoint is an endpoint that reads a JSON body, with one field of its body and
// a value of the wrong type for it.
type jsonEndpoint struct {
	method, path string
	field, wrong string // e.g. "model", `1`
	want         string // the type the field must have, as the message says it
}

// jsonEndpoints are all the endpoints of the server that read a JSON body.
var jsonEndpoints = []jsonEndpoint{
	{"POST", "/v1/chat/completions", "model", `1`, "a string"},
	{"POST", "/v1/completions", "max_tokens", `"many"`, "an integer"},
	{"POST", "/v1/embeddings", "model", `true`, "a string"},
	{"POST", "/v1/responses", "stream", `"yes"`, "a boolean"},
	{"POST", "/v1/intentions", "priority", `"high"`, "a number"},
	{"PATCH", "/v1/intentions/int_x", "priority", `"high"`, "a number"},
	{"POST", "/v1/model-store/pull", "model", `{}`, "a string"},
	{"POST", "/v1/model-store/import", "path", `[]`, "a string"},
}

// Every JSON endpoint answers the same bad body with the same status and error: the
// body's errors are decided in one place (decodeRequest).
func TestBadBodiesAnswerAlikeOnEveryJSONEndpoint(t *testing.T) {
	const limit = 512
	sb := &storeBackend{fakeBackend: newFakeBackend()}
	e := intentionsEnv(t, func(c *Config) { c.Backend = sb; c.MaxBodyBytes = limit })
	// The table holds every route that takes a body (fire takes none), so a new JSON
	// endpoint cannot miss it.
	listed := map[string]bool{"POST /v1/intentions/{id}/fire": true}
	for _, ep := range jsonEndpoints {
		listed[ep.method+" "+strings.Replace(ep.path, "/int_x", "/{id}", 1)] = true
	}
	for _, rt := range e.srv.routeTable() {
		for m := range rt.methods {
			if m != http.MethodGet && m != http.MethodDelete && !listed[m+" "+rt.pattern] {
				t.Errorf("%s %s reads a body but is not in jsonEndpoints", m, rt.pattern)
			}
			delete(listed, m+" "+rt.pattern)
		}
	}
	for k := range listed {
		t.Errorf("%s is in jsonEndpoints but not a route of the server", k)
	}
	cases := []struct {
		name    string
		body    func(ep jsonEndpoint) string
		status  int
		code    string
		mention func(ep jsonEndpoint) string
	}{
		{"malformed JSON", func(jsonEndpoint) string { return `{"model": x}` }, 400, "invalid_request",
			func(jsonEndpoint) string { return "Invalid request: malformed JSON at byte" }},
		{"truncated JSON", func(jsonEndpoint) string { return `{"model":` }, 400, "invalid_request",
			func(jsonEndpoint) string { return "Invalid request: malformed JSON: unexpected end of input" }},
		{"oversize body", func(jsonEndpoint) string { return `{"model":"` + strings.Repeat("x", 2*limit) + `"}` }, 413, "request_too_large",
			func(jsonEndpoint) string { return "exceeds the limit of " + strconv.Itoa(limit) + " bytes" }},
		{"wrong-typed field", func(ep jsonEndpoint) string { return `{"` + ep.field + `":` + ep.wrong + `}` }, 400, "invalid_request",
			func(ep jsonEndpoint) string { return "Invalid request: '" + ep.field + "' must be " + ep.want }},
		{"empty body", func(jsonEndpoint) string { return "" }, 400, "invalid_request",
			func(jsonEndpoint) string { return "Invalid request: the body is empty" }},
		{"trailing garbage", func(jsonEndpoint) string { return `{"model":"m"} x` }, 400, "invalid_request",
			func(jsonEndpoint) string { return "Invalid request: the body must be a single JSON object" }},
		{"two objects", func(jsonEndpoint) string { return `{} {}` }, 400, "invalid_request",
			func(jsonEndpoint) string { return "Invalid request: the body must be a single JSON object" }},
		{"array", func(jsonEndpoint) string { return `[{"model":"m"}]` }, 400, "invalid_request",
			func(jsonEndpoint) string { return "Invalid request: the body must be a JSON object, got array" }},
		{"null", func(jsonEndpoint) string { return `null` }, 400, "invalid_request",
			func(jsonEndpoint) string { return "Invalid request: the body must be a JSON object, got null" }},
	}
	for _, ep := range jsonEndpoints {
		for _, c := range cases {
			t.Run(ep.method+" "+ep.path+"/"+c.name, func(t *testing.T) {
				r := e.do(ep.method, ep.path, c.body(ep))
				if r.status != c.status {
					t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
				}
				eb := assertErrorBody(t, r.body)
				if eb.Type != TypeInvalidRequest || eb.Code != c.code {
					t.Errorf("error %s/%s, want %s/%s", eb.Type, eb.Code, TypeInvalidRequest, c.code)
				}
				if want := c.mention(ep); !strings.Contains(eb.Message, want) {
					t.Errorf("message %q does not contain %q", eb.Message, want)
				}
			})
		}
	}
	if n := len(sb.requests()); n != 0 {
		t.Errorf("%d bad bodies reached the backend", n)
	}
}

// decodeChatRequest decodes a body as the chat handler does, for the tests without a server.
func decodeChatRequest(body []byte) (*ChatCompletionRequest, *APIError) {
	var req ChatCompletionRequest
	if apiErr := decodeBody(body, &req); apiErr != nil {
		return nil, apiErr
	}
	return &req, nil
}

// decodeEmbeddingRequest decodes and validates a body as the embeddings handler does.
func decodeEmbeddingRequest(body []byte) (*EmbeddingRequest, *APIError) {
	var req EmbeddingRequest
	if apiErr := decodeBody(body, &req); apiErr != nil {
		return nil, apiErr
	}
	if apiErr := req.validate(); apiErr != nil {
		return nil, apiErr
	}
	return &req, nil
}
