package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aria-node/aria/inference"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.json from the current responses")

// goldenHeaders are the response headers a golden file records when present.
var goldenHeaders = []string{
	"Content-Type", "Allow", "Retry-After", "Cache-Control", "X-Accel-Buffering",
	"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
	"Access-Control-Max-Age",
}

var idPattern = regexp.MustCompile(`^chatcmpl-aria-[0-9a-f]{24}$`)

// normalise replaces the volatile fields of a decoded response (completion id, created,
// server uptime) with fixed values after checking they are well formed.
func normalise(t *testing.T, v map[string]any) {
	t.Helper()
	switch v["object"] {
	case "chat.completion", "chat.completion.chunk":
		id, _ := v["id"].(string)
		if !idPattern.MatchString(id) {
			t.Errorf("id %q does not match %s", id, idPattern)
		}
		v["id"] = "chatcmpl-aria-<id>"
		created, ok := v["created"].(json.Number)
		n, err := created.Int64()
		if !ok || err != nil || absDuration(time.Since(time.Unix(n, 0))) > 24*time.Hour {
			t.Errorf("created %v is not the Unix time of now", v["created"])
		}
		v["created"] = json.Number("0")
	}
	if _, ok := v["endpoints"]; ok { // health
		up, ok := v["uptime_seconds"].(json.Number)
		if n, err := up.Int64(); !ok || err != nil || n < 0 {
			t.Errorf("uptime_seconds %v is not a non-negative integer", v["uptime_seconds"])
		}
		v["uptime_seconds"] = json.Number("0")
	}
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// goldenDoc is what a golden file holds: status, the headers that matter and the
// normalised body (a JSON value, or for streams the array of events, "[DONE]" as a string).
func goldenDoc(t *testing.T, r response) map[string]any {
	t.Helper()
	hdr := map[string]any{}
	for _, h := range goldenHeaders {
		if v := r.header.Values(h); len(v) > 0 {
			hdr[h] = strings.Join(v, "; ")
		}
	}
	doc := map[string]any{"status": r.status, "headers": hdr}
	if strings.HasPrefix(r.header.Get("Content-Type"), "text/event-stream") {
		var evs []any
		for _, ev := range parseSSE(t, r.body) {
			if ev.json == nil {
				evs = append(evs, ev.raw)
				continue
			}
			normalise(t, ev.json)
			evs = append(evs, ev.json)
		}
		doc["events"] = evs
		return doc
	}
	if len(r.body) == 0 {
		return doc
	}
	body := decodeObject(t, r.body)
	normalise(t, body)
	doc["body"] = body
	return doc
}

// checkGolden compares doc with testdata/golden/name.json, or rewrites it with -update.
func checkGolden(t *testing.T, name string, doc map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (rerun with -update if the change is intended)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func noModels(fb *fakeBackend) { fb.models = nil }

func TestGolden(t *testing.T) {
	cases := []struct {
		name         string
		backend      func(*fakeBackend)
		opts         []envOption
		method, path string
		body         string
	}{
		{name: "chat_completion", method: "POST", path: "/v1/chat/completions", body: chatBody(`"max_tokens":150,"temperature":0.7`)},
		{name: "chat_completion_n2", method: "POST", path: "/v1/chat/completions", body: chatBody(`"n":2,"seed":7`)},
		{name: "chat_completion_length", backend: func(f *fakeBackend) { f.finish = inference.FinishLength },
			method: "POST", path: "/v1/chat/completions", body: chatBody(`"max_tokens":4`)},
		{name: "chat_stream", method: "POST", path: "/v1/chat/completions", body: chatBody(`"stream":true`)},
		{name: "chat_stream_usage", method: "POST", path: "/v1/chat/completions", body: chatBody(`"stream":true,"stream_options":{"include_usage":true}`)},
		{name: "chat_stream_error_event", backend: func(f *fakeBackend) { f.failErr, f.failAfter = errors.New("node connection timeout"), 2 },
			method: "POST", path: "/v1/chat/completions", body: chatBody(`"stream":true`)},
		{name: "models", method: "GET", path: "/v1/models"},
		{name: "models_empty", backend: noModels, method: "GET", path: "/v1/models"},
		{name: "model", method: "GET", path: "/v1/models/aria-2b-1bit"},
		{name: "model_synthetic", method: "GET", path: "/v1/models/aria-tiny-synthetic"},
		{name: "status", method: "GET", path: "/v1/status"},
		{name: "status_no_models", backend: noModels, method: "GET", path: "/v1/status"},
		{name: "energy", method: "GET", path: "/v1/energy"},
		{name: "health", method: "GET", path: "/health"},
		{name: "v1_health", method: "GET", path: "/v1/health"},
		{name: "health_degraded", backend: noModels, method: "GET", path: "/health"},
		{name: "options_preflight", method: "OPTIONS", path: "/v1/chat/completions"},

		{name: "error_messages_required", method: "POST", path: "/v1/chat/completions", body: `{"model":"aria-2b-1bit"}`},
		{name: "error_malformed_json", method: "POST", path: "/v1/chat/completions", body: `{"model":`},
		{name: "error_wrong_type", method: "POST", path: "/v1/chat/completions", body: chatBody(`"temperature":"hot"`)},
		{name: "error_temperature_range", method: "POST", path: "/v1/chat/completions", body: chatBody(`"temperature":2.1`)},
		{name: "error_model_not_found", method: "POST", path: "/v1/chat/completions", body: `{"model":"gpt-4","messages":[{"role":"user","content":"hi"}]}`},
		{name: "error_model_not_found_get", method: "GET", path: "/v1/models/gpt-4"},
		{name: "error_not_found", method: "GET", path: "/v1/nope"},
		{name: "error_method_not_allowed", method: "GET", path: "/v1/chat/completions"},
		{name: "error_too_large", opts: []envOption{func(c *Config) { c.MaxBodyBytes = 64 }},
			method: "POST", path: "/v1/chat/completions", body: chatBody(`"user":"` + strings.Repeat("x", 200) + `"`)},
		{name: "error_queue_full", backend: func(f *fakeBackend) { f.failErr, f.failAfter = inference.ErrBusy, 0 },
			method: "POST", path: "/v1/chat/completions", body: chatBody("")},
		{name: "error_queue_full_stream", backend: func(f *fakeBackend) { f.failErr, f.failAfter = inference.ErrBusy, 0 },
			method: "POST", path: "/v1/chat/completions", body: chatBody(`"stream":true`)},
		{name: "error_no_models", backend: noModels, method: "POST", path: "/v1/chat/completions", body: chatBody("")},
		{name: "error_inference", backend: func(f *fakeBackend) { f.failErr, f.failAfter = errors.New("node connection timeout"), 0 },
			method: "POST", path: "/v1/chat/completions", body: chatBody("")},
		{name: "error_context_length", backend: func(f *fakeBackend) {
			f.failErr, f.failAfter = fmt.Errorf("prompt of 5000 tokens, window 2048: %w", inference.ErrContextLength), 0
		}, method: "POST", path: "/v1/chat/completions", body: chatBody("")},
		{name: "error_closed", backend: func(f *fakeBackend) { f.failErr, f.failAfter = inference.ErrClosed, 0 },
			method: "POST", path: "/v1/chat/completions", body: chatBody("")},
		{name: "error_energy_unavailable", opts: []envOption{func(c *Config) { c.Energy = nil }}, method: "GET", path: "/v1/energy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fb := newFakeBackend()
			if tc.backend != nil {
				tc.backend(fb)
			}
			e := newEnv(t, fb, tc.opts...)
			checkGolden(t, tc.name, goldenDoc(t, e.do(tc.method, tc.path, tc.body)))
		})
	}
}

// TestGoldenFilesUsed fails on golden files no test writes, so renamed cases do not
// leave stale expectations behind.
func TestGoldenFilesUsed(t *testing.T) {
	if *update {
		t.Skip("updating")
	}
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("golden_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		if !bytes.Contains(src, []byte(`"`+name+`"`)) {
			t.Errorf("%s is not produced by any golden case", f)
		}
	}
}

// --- key sets against the API reference's examples ---

// jsonTypes maps every path of v ("a.b", "a[].c") to its JSON type: object, array,
// string, integer, number, boolean or null. Array elements merge; conflicting element
// types are joined with "|".
func jsonTypes(v any) map[string]string {
	out := map[string]string{}
	var walk func(p string, v any)
	set := func(p, typ string) {
		if old, ok := out[p]; ok && old != typ && !slices.Contains(strings.Split(old, "|"), typ) {
			typ = old + "|" + typ
		}
		out[p] = typ
	}
	walk = func(p string, v any) {
		join := func(k string) string {
			if p == "" {
				return k
			}
			return p + "." + k
		}
		switch x := v.(type) {
		case map[string]any:
			if p != "" {
				set(p, "object")
			}
			for k, e := range x {
				walk(join(k), e)
			}
		case []any:
			set(p, "array")
			for _, e := range x {
				walk(p+"[]", e)
			}
		case string:
			set(p, "string")
		case json.Number:
			if strings.ContainsAny(string(x), ".eE") {
				set(p, "number")
			} else {
				set(p, "integer")
			}
		case bool:
			set(p, "boolean")
		case nil:
			set(p, "null")
		default:
			set(p, fmt.Sprintf("%T", v))
		}
	}
	walk("", v)
	return out
}

func typeMatches(want, got string) bool {
	return want == got || (want == "number" && got == "integer")
}

func loadSpec(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "spec", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return decodeObject(t, b)
}

// assertShape checks that got has every field of the spec example with the same JSON
// type, and that its other fields are exactly extras (path → type).
func assertShape(t *testing.T, what string, spec, got any, extras map[string]string) {
	t.Helper()
	want, have := jsonTypes(spec), jsonTypes(got)
	for _, p := range slices.Sorted(maps.Keys(want)) {
		g, ok := have[p]
		switch {
		case !ok:
			t.Errorf("%s: spec field %q is missing", what, p)
		case !typeMatches(want[p], g):
			t.Errorf("%s: field %q is %s, the spec has %s", what, p, g, want[p])
		}
	}
	for _, p := range slices.Sorted(maps.Keys(have)) {
		if _, ok := want[p]; ok {
			continue
		}
		x, ok := extras[p]
		switch {
		case !ok:
			t.Errorf("%s: field %q (%s) is neither in the spec nor a listed aria extra", what, p, have[p])
		case !typeMatches(x, have[p]):
			t.Errorf("%s: aria extra %q is %s, want %s", what, p, have[p], x)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(extras)) {
		if _, ok := have[p]; !ok {
			t.Errorf("%s: listed aria extra %q is missing", what, p)
		}
	}
}

var modelExtras = map[string]string{
	"aria": "object", "aria.architecture": "string", "aria.parameters": "integer", "aria.quant_types": "array",
	"aria.quant_types[]": "string", "aria.context_length": "integer", "aria.synthetic": "boolean", "aria.remote": "boolean", "aria.file_size": "integer",
}

func prefixed(prefix string, m map[string]string, more map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[prefix+k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

func TestSpecShapes(t *testing.T) {
	e := newEnv(t, nil)

	t.Run("chat.completion", func(t *testing.T) {
		r := e.chat(chatBody(""))
		// OpenAI's own fields beyond the reference: logprobs (null unless asked for) and refusal.
		openaiFields := map[string]string{"choices[].logprobs": "null", "choices[].message.refusal": "null"}
		assertShape(t, "chat completion", loadSpec(t, "chat_completion"), decodeObject(t, r.body), openaiFields)
	})

	t.Run("chat.completion.chunk", func(t *testing.T) {
		r := e.chat(chatBody(`"stream":true,"stream_options":{"include_usage":true}`))
		evs := parseSSE(t, r.body)
		// first (role + content), content, ..., finish, usage, [DONE]
		if len(evs) != 4+1+1+1 {
			t.Fatalf("got %d events, want 7", len(evs))
		}
		extra := map[string]string{"system_fingerprint": "string"}
		assertShape(t, "first chunk", loadSpec(t, "chat_chunk_first"), evs[0].json, extra)
		assertShape(t, "content chunk", loadSpec(t, "chat_chunk_content"), evs[1].json, extra)
		assertShape(t, "finish chunk", loadSpec(t, "chat_chunk_finish"), evs[4].json, extra)
		// The usage chunk is OpenAI's include_usage chunk: the chunk's fields, no choices, usage.
		usage := loadSpec(t, "chat_chunk_finish")
		usage["choices"] = []any{}
		assertShape(t, "usage chunk", usage, evs[5].json, map[string]string{"system_fingerprint": "string",
			"usage": "object", "usage.prompt_tokens": "integer", "usage.completion_tokens": "integer", "usage.total_tokens": "integer"})
	})

	t.Run("models", func(t *testing.T) {
		r := e.do("GET", "/v1/models", "")
		assertShape(t, "models", loadSpec(t, "models"), decodeObject(t, r.body),
			// the list holds a synthetic model, which carries a note
			prefixed("data[].", modelExtras, map[string]string{"data[].aria.note": "string"}))
	})

	t.Run("model", func(t *testing.T) {
		spec := loadSpec(t, "models")["data"].([]any)[0]
		r := e.do("GET", "/v1/models/aria-2b-1bit", "")
		assertShape(t, "model", spec, decodeObject(t, r.body), modelExtras)
		r = e.do("GET", "/v1/models/aria-tiny-synthetic", "")
		assertShape(t, "synthetic model", spec, decodeObject(t, r.body), prefixed("", modelExtras, map[string]string{"aria.note": "string"}))
	})

	t.Run("status", func(t *testing.T) {
		r := e.do("GET", "/v1/status", "")
		assertShape(t, "status", loadSpec(t, "status"), decodeObject(t, r.body), map[string]string{
			"active_slots": "integer", "total_slots": "integer", "queued": "integer", "queue_size": "integer"})
	})

	t.Run("energy", func(t *testing.T) {
		r := e.do("GET", "/v1/energy", "")
		assertShape(t, "energy", loadSpec(t, "energy"), decodeObject(t, r.body), map[string]string{
			"recent_history[]": "object", "recent_history[].timestamp": "number", "recent_history[].energy_mj": "number",
			"recent_history[].tokens": "integer", "recent_history[].model": "string",
			"method": "string", "lifetime": "object", "lifetime.total_inferences": "integer",
			"lifetime.total_tokens_generated": "integer", "lifetime.total_energy_mj": "number",
			"lifetime.since": "string", "lifetime.total_energy_kwh": "number", "lifetime.avg_energy_per_token_mj": "number",
			"lifetime.by_method": "object", "lifetime.by_method.rapl": "object", "lifetime.by_method.rapl.inferences": "integer",
			"lifetime.by_method.rapl.tokens": "integer", "lifetime.by_method.rapl.energy_mj": "number",
			"references": "object", "references.gpu_mj_per_token": "integer", "references.cloud_mj_per_token": "integer",
			"references.co2_kg_per_kwh": "number", "references.cloud_usd_per_token": "number", "references.local_usd_per_token": "number"})
	})

	for _, path := range []string{"/health", "/v1/health"} {
		t.Run(path, func(t *testing.T) {
			r := e.do("GET", path, "")
			assertShape(t, path, loadSpec(t, "health"), decodeObject(t, r.body), map[string]string{
				"endpoints./v1/status": "string", "endpoints./v1/energy": "string", "endpoints./metrics": "string"})
		})
	}

	t.Run("errors", func(t *testing.T) {
		busy := newFakeBackend()
		busy.failErr, busy.failAfter = errors.New("boom"), 0
		eb := newEnv(t, busy)
		none := newFakeBackend()
		none.models = nil
		en := newEnv(t, none)
		for _, c := range []struct {
			spec string
			r    response
		}{
			{"error_400", e.chat(`{"model":"aria-2b-1bit"}`)},
			{"error_400", e.do("GET", "/v1/chat/completions", "")}, // 405 has the same shape
			{"error_404", e.do("GET", "/v1/nope", "")},
			{"error_404", e.do("GET", "/v1/models/nope", "")},
			{"error_500", eb.chat(chatBody(""))},
			{"error_503", en.chat(chatBody(""))},
		} {
			assertShape(t, c.spec, loadSpec(t, c.spec), decodeObject(t, c.r.body), nil)
		}
	})
}

// TestSpecExampleValues pins the values the reference documents literally.
func TestSpecExampleValues(t *testing.T) {
	e := newEnv(t, nil)
	r := e.chat(`{"model":"aria-2b-1bit"}`)
	if want := loadSpec(t, "error_400"); !jsonEqual(t, r.body, want) {
		t.Errorf("missing messages: got %s, want the spec's example %v", r.body, want)
	}
	r = e.do("GET", "/v1/nope", "")
	if want := loadSpec(t, "error_404"); !jsonEqual(t, r.body, want) {
		t.Errorf("unknown path: got %s, want the spec's example %v", r.body, want)
	}
	r = e.chat(chatBody(""))
	c := decodeObject(t, r.body)
	if c["object"] != "chat.completion" || c["system_fingerprint"] != "aria-v0.5.5" {
		t.Errorf("object/system_fingerprint = %v/%v, want chat.completion/aria-v0.5.5", c["object"], c["system_fingerprint"])
	}
	r = e.do("GET", "/v1/models", "")
	m := decodeObject(t, r.body)
	first := m["data"].([]any)[0].(map[string]any)
	if m["object"] != "list" || first["object"] != "model" || first["owned_by"] != "aria-protocol" || first["root"] != first["id"] {
		t.Errorf("models list values differ from the spec: %s", r.body)
	}
	if r.status != http.StatusOK {
		t.Errorf("GET /v1/models status %d", r.status)
	}
}

func jsonEqual(t *testing.T, got []byte, want map[string]any) bool {
	t.Helper()
	a, _ := json.Marshal(decodeObject(t, got))
	b, _ := json.Marshal(want)
	return bytes.Equal(a, b)
}
