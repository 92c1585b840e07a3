package openai

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// historyEnergy is an energy source with a ledger history that records its calls.
type historyEnergy struct {
	fakeEnergy
	mu    sync.Mutex
	calls [][3]any
	err   error
}

func (h *historyEnergy) EnergyHistory(from, to time.Time, step time.Duration) (EnergyHistory, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, [3]any{from, to, step})
	if h.err != nil {
		return EnergyHistory{}, h.err
	}
	return EnergyHistory{From: from.Format(time.RFC3339), To: to.Format(time.RFC3339), StepSeconds: step.Seconds(), Method: "cpu_time",
		Buckets: []EnergyBucket{{Start: from.Format(time.RFC3339), Timestamp: from.Unix(), Inferences: 1, Tokens: 10, EnergyMJ: 5, MJPerToken: 0.5}}}, nil
}

func TestEnergyHistoryParsesTheRange(t *testing.T) {
	src := &historyEnergy{fakeEnergy: fakeEnergy{testEnergy()}}
	e := newEnv(t, nil, func(c *Config) { c.Energy = src })
	r := e.do("GET", "/v1/energy/history?from=2026-12-01T10:00:00Z&to=1796126400&step=5m", "")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var h EnergyHistory
	if err := json.Unmarshal(r.body, &h); err != nil || len(h.Buckets) != 1 || h.Buckets[0].Tokens != 10 {
		t.Fatalf("body %s (%v)", r.body, err)
	}
	c := src.calls[0]
	if !c[0].(time.Time).Equal(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)) || !c[1].(time.Time).Equal(time.Unix(1796126400, 0)) || c[2].(time.Duration) != 5*time.Minute {
		t.Fatalf("source called with %v", c)
	}
	// Defaults: the last 24 hours in 120 steps; a step in plain seconds.
	e.do("GET", "/v1/energy/history", "")
	e.do("GET", "/v1/energy/history?from=2026-12-01&to=2026-12-02&step=3600", "")
	if d := src.calls[1][1].(time.Time).Sub(src.calls[1][0].(time.Time)); d != 24*time.Hour || src.calls[1][2].(time.Duration) != 12*time.Minute {
		t.Fatalf("defaults: range %v step %v", d, src.calls[1][2])
	}
	if src.calls[2][2].(time.Duration) != time.Hour {
		t.Fatalf("step in seconds: %v", src.calls[2][2])
	}
}

func TestEnergyHistoryRefusesBadInput(t *testing.T) {
	src := &historyEnergy{fakeEnergy: fakeEnergy{testEnergy()}}
	e := newEnv(t, nil, func(c *Config) { c.Energy = src })
	for _, c := range []struct{ query, mention string }{
		{"from=yesterday", "'from'"},
		{"to=2026-13-45", "'to'"},
		{"from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", "before"},
		{"from=2026-12-01T00:00:00Z&to=2026-12-01T00:00:00Z", "before"},
		{"step=0", "'step'"},
		{"step=-5s", "'step'"},
		{"step=500ms", "'step'"},
		{"step=soon", "'step'"},
		{"step=NaN", "'step'"},
		{"from=-1", "'from'"},
		{"from=1e300", "'from'"},
	} {
		r := e.do("GET", "/v1/energy/history?"+c.query, "")
		if r.status != 400 {
			t.Errorf("%s: status %d, want 400: %s", c.query, r.status, r.body)
			continue
		}
		eb := assertErrorBody(t, r.body)
		if eb.Type != TypeInvalidRequest || eb.Code != "invalid_request" || !strings.Contains(eb.Message, c.mention) {
			t.Errorf("%s: error %+v, want invalid_request mentioning %s", c.query, eb, c.mention)
		}
	}
	if len(src.calls) != 0 {
		t.Fatalf("the source was called for bad input: %v", src.calls)
	}
	// The source's own refusal (too many steps) is written as it says.
	src.err = &APIError{Status: 400, Type: TypeInvalidRequest, Code: "invalid_request", Message: "Invalid request: bad time range: too many steps"}
	r := e.do("GET", "/v1/energy/history?step=1s&from=2026-01-01", "")
	if r.status != 400 || assertErrorBody(t, r.body).Message != src.err.(*APIError).Message {
		t.Fatalf("source refusal: %d %s", r.status, r.body)
	}
	// Without a ledger: 503 in the error shape.
	e2 := newEnv(t, nil)
	if r := e2.do("GET", "/v1/energy/history", ""); r.status != 503 || assertErrorBody(t, r.body).Code != "energy_unavailable" {
		t.Fatalf("no ledger: %d %s", r.status, r.body)
	}
}

// storeBackend is a backend with a model store whose pull reports scripted progress.
type storeBackend struct {
	*fakeBackend
	pullErr error
	removed []string
	blockCh chan struct{} // when set, the pull waits for it or for the client to go away
	ctxErr  chan error
}

func (s *storeBackend) StoredModels(ctx context.Context) ([]StoredModel, error) {
	return []StoredModel{{Name: "a", SizeBytes: 3, Served: true}}, nil
}

func (s *storeBackend) PullModel(ctx context.Context, req PullRequest, progress func(PullProgress)) (StoredModel, error) {
	for i := int64(0); i <= 4; i++ {
		progress(PullProgress{Status: "download", Completed: i * 25, Total: 100, BytesPerSec: 1000})
		time.Sleep(120 * time.Millisecond) // past the 100 ms throttle, so each line goes out
	}
	if s.blockCh != nil {
		select {
		case <-s.blockCh:
		case <-ctx.Done():
			s.ctxErr <- ctx.Err()
			return StoredModel{}, ctx.Err()
		}
	}
	if s.pullErr != nil {
		return StoredModel{}, s.pullErr
	}
	return StoredModel{Name: req.Name, SizeBytes: 100, Verified: true, Served: true}, nil
}

func (s *storeBackend) ImportModel(ctx context.Context, req ImportRequest) (StoredModel, error) {
	return StoredModel{Name: "imported", Imported: true}, nil
}

func (s *storeBackend) RemoveModel(ctx context.Context, name string) error {
	if name == "missing" {
		return &APIError{Status: 404, Type: TypeNotFound, Code: "model_not_found", Message: "model not found: missing"}
	}
	s.removed = append(s.removed, name)
	return nil
}

func ndjson(t *testing.T, b []byte) []PullProgress {
	t.Helper()
	var out []PullProgress
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var p PullProgress
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, p)
	}
	return out
}

func TestPullStreamsProgressAsNDJSON(t *testing.T) {
	sb := &storeBackend{fakeBackend: newFakeBackend()}
	e := newEnv(t, sb.fakeBackend, func(c *Config) { c.Backend = sb })
	r := e.do("POST", "/v1/model-store/pull", `{"model":"hf://o/r/f.gguf","name":"m1"}`)
	if r.status != 200 || r.header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("status %d type %q: %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	lines := ndjson(t, r.body)
	if len(lines) < 4 || lines[0].Status != "start" {
		t.Fatalf("lines %+v", lines)
	}
	var pct []float64
	for _, l := range lines[1 : len(lines)-1] {
		pct = append(pct, l.Percent)
	}
	if pct[0] != 0 || pct[len(pct)-1] != 100 || len(pct) < 3 {
		t.Fatalf("percentages %v", pct)
	}
	last := lines[len(lines)-1]
	if last.Status != "success" || last.Model == nil || last.Model.Name != "m1" || last.Percent != 100 {
		t.Fatalf("last line %+v", last)
	}

	// A failure after the stream started is the last line, in the error shape.
	sb.pullErr = &APIError{Status: 404, Type: TypeNotFound, Code: "model_not_found", Message: "not found on the hub"}
	lines = ndjson(t, e.do("POST", "/v1/model-store/pull", `{"model":"hf://o/r/f.gguf"}`).body)
	if last := lines[len(lines)-1]; last.Status != "error" || last.Error == nil || last.Error.Code != "model_not_found" {
		t.Fatalf("error line %+v", last)
	}
	sb.pullErr = errors.New("disk on fire")
	lines = ndjson(t, e.do("POST", "/v1/model-store/pull", `{"model":"hf://o/r/f.gguf"}`).body)
	if last := lines[len(lines)-1]; last.Error == nil || last.Error.Type != TypeServer || last.Error.Message != "disk on fire" {
		t.Fatalf("error line %+v", last)
	}
}

func TestPullBadInputIsA400BeforeTheStream(t *testing.T) {
	sb := &storeBackend{fakeBackend: newFakeBackend()}
	e := newEnv(t, sb.fakeBackend, func(c *Config) { c.Backend = sb })
	for _, body := range []string{`{}`, `{"model":"  "}`, `{"model":1}`, `[]`, `{"model":"x"} {"model":"y"}`, `not json`} {
		r := e.do("POST", "/v1/model-store/pull", body)
		if r.status != 400 || assertErrorBody(t, r.body).Code != "invalid_request" {
			t.Errorf("%s: %d %s", body, r.status, r.body)
		}
	}
	if r := e.do("GET", "/v1/model-store/pull", ""); r.status != 405 {
		t.Errorf("GET pull: %d", r.status)
	}
	if r := e.do("POST", "/v1/model-store/import", `{"name":"x"}`); r.status != 400 || !strings.Contains(assertErrorBody(t, r.body).Message, "'path'") {
		t.Errorf("import without path: %d %s", r.status, r.body)
	}
	// A server whose backend has no store says so.
	e2 := newEnv(t, nil)
	if r := e2.do("GET", "/v1/model-store", ""); r.status != 503 || assertErrorBody(t, r.body).Code != "model_store_unavailable" {
		t.Errorf("no store: %d %s", r.status, r.body)
	}
}

func TestPullStopsWhenTheClientGoesAway(t *testing.T) {
	sb := &storeBackend{fakeBackend: newFakeBackend(), blockCh: make(chan struct{}), ctxErr: make(chan error, 1)}
	e := newEnv(t, sb.fakeBackend, func(c *Config) { c.Backend = sb })
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", e.ts.URL+"/v1/model-store/pull", strings.NewReader(`{"model":"hf://o/r/f.gguf"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Scan() // the start line: the stream is open
	cancel()
	resp.Body.Close()
	select {
	case err := <-sb.ctxErr:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("pull ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the pull did not stop when its client went away")
	}
}

func TestModelStoreListAndRemove(t *testing.T) {
	sb := &storeBackend{fakeBackend: newFakeBackend()}
	e := newEnv(t, sb.fakeBackend, func(c *Config) { c.Backend = sb })
	if r := e.do("GET", "/v1/model-store", ""); r.status != 200 || !strings.Contains(string(r.body), `"data":[{"name":"a","size_bytes":3`) {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", "/v1/model-store/a", ""); r.status != 200 || len(sb.removed) != 1 || sb.removed[0] != "a" {
		t.Fatalf("remove: %d %s %v", r.status, r.body, sb.removed)
	}
	if r := e.do("DELETE", "/v1/model-store/missing", ""); r.status != 404 || assertErrorBody(t, r.body).Code != "model_not_found" {
		t.Fatalf("remove missing: %d %s", r.status, r.body)
	}
}

func TestUIServesOnlyTheRootAndItsAssets(t *testing.T) {
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ui " + r.URL.Path)) })
	e := newEnv(t, nil, func(c *Config) { c.UI = ui })
	for _, c := range []struct {
		method, path string
		ui           bool
	}{
		{"GET", "/", true}, {"HEAD", "/", true}, {"GET", "/ui/app.js", true},
		{"GET", "/nope", false}, {"GET", "/v1/nope", false}, {"GET", "/api/nope", false}, {"POST", "/", false}, {"GET", "/v1", false},
	} {
		r := e.do(c.method, c.path, "")
		if c.ui {
			if r.status != 200 || (c.method == "GET" && string(r.body) != "ui "+c.path) {
				t.Errorf("%s %s: %d %q, want the UI", c.method, c.path, r.status, r.body)
			}
			continue
		}
		if r.status != 404 || assertErrorBody(t, r.body).Code != "not_found" {
			t.Errorf("%s %s: %d %s, want the JSON 404", c.method, c.path, r.status, r.body)
		}
	}
	// The guard still runs first: a rebound Host name or a foreign origin gets no page.
	e2 := newEnv(t, nil, func(c *Config) { c.UI = ui; c.Access = Access{BindHost: "127.0.0.1"} })
	for _, h := range []map[string]string{{"Host": "evil.example"}, {"Origin": "http://evil.example"}} {
		req, _ := http.NewRequest("GET", e2.ts.URL+"/", nil)
		for k, v := range h {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		resp, err := e2.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Errorf("GET / with %v: %d, want 403", h, resp.StatusCode)
		}
	}
}

// FuzzHistoryQuery: any query either is refused with a 400 or gives a range the ledger
// can be asked for (from before to, a step of at least a second).
func FuzzHistoryQuery(f *testing.F) {
	for _, s := range []string{"from=2026-12-01T10:00:00Z&to=2026-12-01T11:00:00Z&step=5m", "step=60", "from=-1", "to=1e300", "step=NaN", "from=2026-12-01", "step=0.5", ""} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		from, to, step, e := parseHistoryQuery(q, now)
		if e != nil {
			if e.Status != 400 || e.Code != "invalid_request" {
				t.Fatalf("%q: %+v", raw, e)
			}
			return
		}
		if !from.Before(to) || step < time.Second {
			t.Fatalf("%q: accepted from %v to %v step %v", raw, from, to, step)
		}
	})
}
