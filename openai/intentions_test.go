package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aria-node/aria/intentions"
)

// intentionsEnv is the API over a real intentions store in a temp bbolt file.
func intentionsEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "aria.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := intentions.Open(db, intentions.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return newEnv(t, nil, append([]envOption{func(c *Config) { c.Intentions = st }}, opts...)...)
}

func (e *env) createIntention(body string) map[string]any {
	e.t.Helper()
	r := e.do("POST", "/v1/intentions", body)
	if r.status != http.StatusCreated {
		e.t.Fatalf("create %s: HTTP %d %s", body, r.status, r.body)
	}
	return obj(e.t, r.body)
}

// obj decodes a JSON object with float64 numbers.
func obj(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, b)
	}
	return m
}

func errorOf(t *testing.T, r response) ErrorBody {
	t.Helper()
	var er ErrorResponse
	if err := jsonUnmarshalStrict(r.body, &er); err != nil {
		t.Fatalf("error body %s: %v", r.body, err)
	}
	return er.Error
}

func TestIntentionCreateMatchesTheSpec(t *testing.T) {
	e := intentionsEnv(t)
	r := e.do("POST", "/v1/intentions", `{"content":"Ask about Q4 presentation results","trigger_type":"time",
		"trigger_condition":"2099-02-17T09:00:00Z","priority":0.8,"max_fires":1,"expires_at":"2099-03-01T00:00:00Z",
		"related_topics":["project_alpha","quarterly_review"]}`)
	if r.status != 201 {
		t.Fatalf("HTTP %d %s", r.status, r.body)
	}
	var created IntentionCreated
	if err := jsonUnmarshalStrict(r.body, &created); err != nil {
		t.Fatalf("201 body %s: %v", r.body, err)
	}
	if !regexp.MustCompile(`^int_[0-9a-f]+$`).MatchString(created.ID) || created.Status != "pending" {
		t.Fatalf("created: %+v", created)
	}
	if _, err := time.Parse(time.RFC3339, created.CreatedAt); err != nil {
		t.Fatalf("created_at %q: %v", created.CreatedAt, err)
	}
	if got := r.header.Get("Location"); got != "/v1/intentions/"+created.ID {
		t.Fatalf("Location %q", got)
	}
	in := obj(t, e.do("GET", "/v1/intentions/"+created.ID, "").body)
	for k, want := range map[string]any{"content": "Ask about Q4 presentation results", "trigger_type": "time", "priority": 0.8,
		"max_fires": float64(1), "fire_count": float64(0), "status": "pending", "tier": "hot", "expires_at": "2099-03-01T00:00:00Z"} {
		if in[k] != want {
			t.Errorf("%s = %v, want %v", k, in[k], want)
		}
	}
	if topics, _ := in["related_topics"].([]any); len(topics) != 2 {
		t.Errorf("related_topics %v", in["related_topics"])
	}
	if _, ok := in["trigger_embedding"]; ok {
		t.Error("the raw embedding leaked into the API")
	}
	sem := e.createIntention(`{"content":"c","trigger_type":"semantic","trigger_condition":"quarterly review"}`)
	if sem["trigger_embedding_computed"] != true {
		t.Fatalf("semantic intention without embedding: %v", sem)
	}
}

func TestIntentionErrors(t *testing.T) {
	e := intentionsEnv(t)
	id := e.createIntention(`{"content":"c","trigger_type":"time","trigger_condition":"2099-01-01T00:00:00Z"}`)["id"].(string)
	cases := []struct {
		name, method, path, body string
		status                   int
		code, mention            string
	}{
		{"missing content", "POST", "/v1/intentions", `{"trigger_type":"time","trigger_condition":"2099-01-01T00:00:00Z"}`, 400, "invalid_request", "content"},
		{"missing trigger_type", "POST", "/v1/intentions", `{"content":"c","trigger_condition":"*"}`, 400, "invalid_request", "trigger_type"},
		{"unknown trigger_type", "POST", "/v1/intentions", `{"content":"c","trigger_type":"lunar","trigger_condition":"*"}`, 400, "invalid_request", "trigger_type"},
		{"bad time", "POST", "/v1/intentions", `{"content":"c","trigger_type":"time","trigger_condition":"next tuesday"}`, 400, "invalid_request", "trigger_condition"},
		{"empty phrase", "POST", "/v1/intentions", `{"content":"c","trigger_type":"semantic","trigger_condition":""}`, 400, "invalid_request", "trigger_condition"},
		{"bad expression", "POST", "/v1/intentions", `{"content":"c","trigger_type":"condition","trigger_condition":"energy.total_tokens >"}`, 400, "invalid_request", "trigger_condition"},
		{"session_start not *", "POST", "/v1/intentions", `{"content":"c","trigger_type":"session_start","trigger_condition":"morning"}`, 400, "invalid_request", "trigger_condition"},
		{"priority range", "POST", "/v1/intentions", `{"content":"c","trigger_type":"session_start","trigger_condition":"*","priority":1.5}`, 400, "invalid_request", "priority"},
		{"priority type", "POST", "/v1/intentions", `{"content":"c","trigger_type":"session_start","trigger_condition":"*","priority":"high"}`, 400, "invalid_request", "priority"},
		{"max_fires 0", "POST", "/v1/intentions", `{"content":"c","trigger_type":"session_start","trigger_condition":"*","max_fires":0}`, 400, "invalid_request", "max_fires"},
		{"bad expires_at", "POST", "/v1/intentions", `{"content":"c","trigger_type":"session_start","trigger_condition":"*","expires_at":"soon"}`, 400, "invalid_request", "expires_at"},
		{"past expires_at", "POST", "/v1/intentions", `{"content":"c","trigger_type":"session_start","trigger_condition":"*","expires_at":"2001-01-01T00:00:00Z"}`, 400, "invalid_request", "expires_at"},
		{"malformed JSON", "POST", "/v1/intentions", `{"content":`, 400, "invalid_request", "JSON"},
		{"not an object", "POST", "/v1/intentions", `[1,2]`, 400, "invalid_request", "object"},
		{"limit", "GET", "/v1/intentions?limit=0", "", 400, "invalid_request", "limit"},
		{"limit text", "GET", "/v1/intentions?limit=ten", "", 400, "invalid_request", "limit"},
		{"sort", "GET", "/v1/intentions?sort=random", "", 400, "invalid_request", "sort"},
		{"status filter", "GET", "/v1/intentions?status=sleeping", "", 400, "invalid_request", "status"},
		{"unknown id", "GET", "/v1/intentions/int_000000000000", "", 404, "intention_not_found", "int_000000000000"},
		{"patch unknown id", "PATCH", "/v1/intentions/int_000000000000", `{"priority":0.1}`, 404, "intention_not_found", "int_000000000000"},
		{"delete unknown id", "DELETE", "/v1/intentions/int_000000000000", "", 404, "intention_not_found", "int_000000000000"},
		{"fire unknown id", "POST", "/v1/intentions/int_000000000000/fire", "", 404, "intention_not_found", "int_000000000000"},
		{"patch content", "PATCH", "/v1/intentions/" + id, `{"content":"new"}`, 400, "invalid_request", "content"},
		{"patch nothing", "PATCH", "/v1/intentions/" + id, `{}`, 400, "invalid_request", "nothing to change"},
		{"patch priority type", "PATCH", "/v1/intentions/" + id, `{"priority":"x"}`, 400, "invalid_request", "priority"},
		{"patch null priority", "PATCH", "/v1/intentions/" + id, `{"priority":null}`, 400, "invalid_request", "priority"},
		{"patch null status", "PATCH", "/v1/intentions/" + id, `{"status":null}`, 400, "invalid_request", "status"},
		{"patch bad status", "PATCH", "/v1/intentions/" + id, `{"status":"sleeping"}`, 400, "invalid_request", "status"},
		{"patch bad time", "PATCH", "/v1/intentions/" + id, `{"trigger_condition":"never"}`, 400, "invalid_request", "trigger_condition"},
		{"put", "PUT", "/v1/intentions/" + id, `{}`, 405, "method_not_allowed", "PUT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.body)
			if r.status != tc.status {
				t.Fatalf("HTTP %d, want %d: %s", r.status, tc.status, r.body)
			}
			eb := errorOf(t, r)
			if eb.Code != tc.code || !strings.Contains(eb.Message, tc.mention) || eb.Type == "" {
				t.Fatalf("error %+v: want code %s and a message mentioning %q", eb, tc.code, tc.mention)
			}
		})
	}
}

func TestIntentionLifecycleThroughHTTP(t *testing.T) {
	e := intentionsEnv(t)
	id := e.createIntention(`{"content":"c","trigger_type":"session_start","trigger_condition":"*","priority":0.2}`)["id"].(string)
	path := "/v1/intentions/" + id

	r := e.do("PATCH", path, `{"priority":0.9,"expires_at":"2099-01-01T00:00:00Z"}`)
	in := obj(t, r.body)
	if r.status != 200 || in["priority"] != 0.9 || in["expires_at"] != "2099-01-01T00:00:00Z" {
		t.Fatalf("patch: HTTP %d %v", r.status, in)
	}
	if in := obj(t, e.do("PATCH", path, `{"expires_at":null}`).body); in["expires_at"] != nil {
		t.Fatalf("expires_at null must clear it: %v", in["expires_at"])
	}
	if in := obj(t, e.do("POST", path+"/fire", "").body); in["status"] != "triggered" || in["fire_count"] != float64(1) {
		t.Fatalf("fire: %v", in)
	}
	if r := e.do("POST", path+"/fire", ""); r.status != 409 || errorOf(t, r).Code != "invalid_status_transition" {
		t.Fatalf("firing a triggered intention: HTTP %d %s", r.status, r.body)
	}
	if in := obj(t, e.do("PATCH", path, `{"status":"executed"}`).body); in["status"] != "executed" {
		t.Fatalf("to executed: %v", in)
	}
	r = e.do("PATCH", path, `{"status":"pending"}`)
	if r.status != 409 || !strings.Contains(errorOf(t, r).Message, "cannot change from executed to pending") {
		t.Fatalf("executed -> pending: HTTP %d %s", r.status, r.body)
	}

	other := e.createIntention(`{"content":"d","trigger_type":"semantic","trigger_condition":"garden roses"}`)["id"].(string)
	r = e.do("DELETE", "/v1/intentions/"+other, "")
	if in := obj(t, r.body); r.status != 200 || in["status"] != "cancelled" || in["tier"] != "cold" {
		t.Fatalf("delete: HTTP %d %v", r.status, in)
	}
	if in := obj(t, e.do("GET", "/v1/intentions/"+other, "").body); in["status"] != "cancelled" {
		t.Fatalf("a cancelled intention is kept: %v", in)
	}

	var list []map[string]any
	if err := json.Unmarshal(e.do("GET", "/v1/intentions?status=cancelled", "").body, &list); err != nil || len(list) != 1 || list[0]["id"] != other {
		t.Fatalf("status filter: %v %v", list, err)
	}
	if err := json.Unmarshal(e.do("GET", "/v1/intentions?trigger_type=session_start&sort=created_asc&limit=5", "").body, &list); err != nil || len(list) != 1 || list[0]["id"] != id {
		t.Fatalf("trigger_type filter: %v %v", list, err)
	}
}

func TestIntentionListDefaultsAndSorts(t *testing.T) {
	e := intentionsEnv(t)
	for i := range 25 {
		e.createIntention(fmt.Sprintf(`{"content":"n%d","trigger_type":"session_start","trigger_condition":"*","priority":%g}`, i, float64(i)/25))
	}
	var list []map[string]any
	if err := json.Unmarshal(e.do("GET", "/v1/intentions", "").body, &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 20 {
		t.Fatalf("default limit: %d intentions, want 20", len(list))
	}
	for i := 1; i < len(list); i++ {
		if list[i-1]["priority"].(float64) < list[i]["priority"].(float64) {
			t.Fatalf("default sort is not priority_desc at %d: %v then %v", i, list[i-1]["priority"], list[i]["priority"])
		}
	}
	if err := json.Unmarshal(e.do("GET", "/v1/intentions?sort=priority_asc&limit=3", "").body, &list); err != nil || len(list) != 3 || list[0]["priority"].(float64) != 0 {
		t.Fatalf("priority_asc: %v %v", list, err)
	}
	empty := intentionsEnv(t).do("GET", "/v1/intentions", "")
	if strings.TrimSpace(string(empty.body)) != "[]" {
		t.Fatalf("empty list body %s, want []", empty.body)
	}
}

func TestIntentionsDisabledIs503(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do("GET", "/v1/intentions", "")
	if r.status != 503 || errorOf(t, r).Code != "intentions_unavailable" {
		t.Fatalf("HTTP %d %s", r.status, r.body)
	}
}

// FuzzIntentionBodies sends arbitrary bodies to the endpoints that decode them
// (create and patch) over a real store: the answer is always a 2xx or a 4xx in the
// API's error shape, never a 5xx or a crash.
func FuzzIntentionBodies(f *testing.F) {
	for _, s := range []string{
		`{"content":"c","trigger_type":"time","trigger_condition":"2099-01-01T00:00:00Z","priority":0.5,"max_fires":-1}`,
		`{"content":"c","trigger_type":"semantic","trigger_condition":"q4 results","related_topics":["a","b"],"expires_at":"2099-01-01T00:00:00Z"}`,
		`{"content":"c","trigger_type":"condition","trigger_condition":"(a > 1 || b == 'x') && !c"}`,
		`{"priority":0.1,"status":"cancelled","expires_at":null,"trigger_condition":"2099-01-01T00:00:00Z"}`,
		`{"status":"triggered"}`, `{"content":1}`, `{"related_topics":"x"}`, `[]`, `null`, `{`, `{"expires_at":5}`,
	} {
		f.Add([]byte(s))
	}
	// One store and server for all inputs, called in process: the fuzzer's speed is
	// in its iterations.
	db, err := bolt.Open(filepath.Join(f.TempDir(), "aria.db"), 0o600, &bolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	st, err := intentions.Open(db, intentions.Options{})
	if err != nil {
		f.Fatal(err)
	}
	h := NewServer(Config{Backend: newFakeBackend(), Intentions: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler()
	serve := func(method, path string, body []byte) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		req.Host = "localhost"
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rec, req)
		return rec
	}
	created := serve("POST", "/v1/intentions", []byte(`{"content":"c","trigger_type":"session_start","trigger_condition":"*","max_fires":-1}`))
	var in IntentionCreated
	if err := json.Unmarshal(created.Body.Bytes(), &in); err != nil || in.ID == "" {
		f.Fatalf("create: %s", created.Body)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, req := range []struct{ method, path string }{{"POST", "/v1/intentions"}, {"PATCH", "/v1/intentions/" + in.ID}} {
			rec := serve(req.method, req.path, body)
			if rec.Code >= 500 {
				t.Fatalf("%s %s %q: HTTP %d %s", req.method, req.path, body, rec.Code, rec.Body)
			}
			if rec.Code >= 400 {
				if eb := errorOf(t, response{status: rec.Code, body: rec.Body.Bytes()}); eb.Message == "" || eb.Code == "" {
					t.Fatalf("%s %q: error without message or code: %s", req.method, body, rec.Body)
				}
			}
		}
	})
}
