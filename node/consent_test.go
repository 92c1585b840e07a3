package node

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aria-node/aria/consent"
	"github.com/aria-node/aria/openai"
)

// testClock is a clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// apiServer serves the node's OpenAI API on a loopback port, as Start does.
func apiServer(t *testing.T, n *Node) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(openai.NewServer(n.apiConfig()).Handler())
	t.Cleanup(srv.Close)
	return srv
}

type apiReply struct {
	status int
	header http.Header
	body   map[string]any
}

// chat posts a small chat request; remote marks it as remote work (X-Aria-Origin).
func chat(t *testing.T, srv *httptest.Server, remote bool, extra map[string]any, msg string) apiReply {
	t.Helper()
	body := map[string]any{"model": "aria-tiny-1bit", "max_tokens": 4, "temperature": 0,
		"messages": []map[string]string{{"role": "user", "content": msg}}}
	for k, v := range extra {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.URL+"/v1/chat/completions", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if remote {
		req.Header.Set(openai.HeaderOrigin, "remote")
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) apiReply {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := apiReply{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("%s %s: HTTP %d, not a JSON object: %s", req.Method, req.URL.Path, resp.StatusCode, raw)
	}
	return r
}

func errCode(r apiReply) string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func errMessage(r apiReply) string {
	e, _ := r.body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

func TestMaxConcurrentRefusesTheNextRemoteTaskButNotTheOwner(t *testing.T) {
	n := startTestNode(t, t.TempDir(), func(c *Config) {
		ct := fullCPU
		ct.MaxConcurrentTasks = 2
		c.Consent = &ct
	})
	srv := apiServer(t, n)
	// Two remote tasks in flight, held open through the same hook the API runs.
	var ends []func(bool)
	for range 2 {
		turn, err := n.BeginChat(t.Context(), openai.ChatInfo{Model: "aria-tiny-1bit", Remote: true, UserMessages: []string{"hello"}})
		if err != nil {
			t.Fatalf("remote task within max_concurrent_tasks refused: %v", err)
		}
		ends = append(ends, turn.End)
	}
	if st := n.ConsentStatus(); st.RunningTasks != 2 || st.Accepting || st.Reason == nil || st.Reason.Code != consent.CodeMaxConcurrentReached {
		t.Fatalf("status with 2 of 2 running: %+v", st)
	}
	if rec := n.Record(); rec.Accepting {
		t.Fatalf("record says accepting with 2 of 2 tasks running: %+v", rec)
	}

	r := chat(t, srv, true, nil, "a third remote task")
	if r.status != 503 || errCode(r) != consent.CodeMaxConcurrentReached || !strings.Contains(errMessage(r), "max_concurrent_tasks") {
		t.Fatalf("third remote task: HTTP %d %v", r.status, r.body)
	}
	if r.header.Get("Retry-After") == "" {
		t.Fatal("refusal without Retry-After")
	}
	// The owner's own request is not subject to max_concurrent_tasks.
	if r := chat(t, srv, false, nil, "the owner asks"); r.status != 200 {
		t.Fatalf("owner request while remote work is at its maximum: HTTP %d %v", r.status, r.body)
	}
	ends[0](true)
	ends[0](true) // End twice must not free a second slot
	if r := chat(t, srv, true, nil, "now there is room"); r.status != 200 {
		t.Fatalf("remote task after one finished: HTTP %d %v", r.status, r.body)
	}
	if got := n.ConsentStatus().RunningTasks; got != 1 {
		t.Fatalf("running tasks after the HTTP request ended: %d, want 1", got)
	}
	ends[1](true)
}

func TestOutsideScheduleRefusesRemoteWorkAndTheRecordFlips(t *testing.T) {
	clock := &testClock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)} // a Tuesday
	n := startTestNode(t, t.TempDir(), func(c *Config) {
		ct := fullCPU
		ct.Schedule = "09:00-17:00"
		ct.Days = []string{"mon", "tue", "wed", "thu", "fri"}
		c.Consent = &ct
		c.Now = clock.Now
	})
	srv := apiServer(t, n)
	open := n.Record()
	if !open.Accepting || open.Reason != nil {
		t.Fatalf("inside the window: %+v", open)
	}
	if r := chat(t, srv, true, nil, "inside the window"); r.status != 200 {
		t.Fatalf("remote task inside the schedule: HTTP %d %v", r.status, r.body)
	}

	clock.Set(time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC))
	closed := n.Record()
	if closed.Accepting || closed.Reason == nil || closed.Reason.Code != consent.CodeOutsideSchedule || closed.Seq <= open.Seq {
		t.Fatalf("outside the window the record must flip with a newer seq: before %+v after %+v", open, closed)
	}
	r := chat(t, srv, true, nil, "after hours")
	if r.status != 503 || errCode(r) != consent.CodeOutsideSchedule || !strings.Contains(errMessage(r), "09:00-17:00") {
		t.Fatalf("remote task outside the schedule: HTTP %d %v", r.status, r.body)
	}
	if ra := r.header.Get("Retry-After"); ra != "46800" { // opens again at 09:00 tomorrow: 13 h
		t.Fatalf("Retry-After %q, want 46800", ra)
	}
	if r := chat(t, srv, false, nil, "the owner, after hours"); r.status != 200 {
		t.Fatalf("owner request outside the schedule: HTTP %d %v", r.status, r.body)
	}
	st := do(t, mustRequest(t, "GET", srv.URL+"/v1/status"))
	cs, _ := st.body["consent"].(map[string]any)
	reason, _ := cs["reason"].(map[string]any)
	if cs["accepting"] != false || reason["code"] != consent.CodeOutsideSchedule {
		t.Fatalf("/v1/status consent: %v", st.body["consent"])
	}
	if c, _ := cs["contract"].(map[string]any); c["schedule"] != "09:00-17:00" || c["max_concurrent_tasks"] != float64(2) {
		t.Fatalf("/v1/status contract: %v", cs["contract"])
	}

	clock.Set(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)) // Saturday
	if r := chat(t, srv, true, nil, "on saturday"); r.status != 503 || errCode(r) != consent.CodeDayNotAllowed {
		t.Fatalf("remote task on a day not allowed: HTTP %d %v", r.status, r.body)
	}
}

func TestTaskTypesAreDeclaredOrClassified(t *testing.T) {
	n := startTestNode(t, t.TempDir(), func(c *Config) {
		ct := fullCPU
		ct.TaskTypes = []string{"text_gen", "summarization"}
		c.Consent = &ct
	})
	srv := apiServer(t, n)
	if r := chat(t, srv, true, nil, "Write a Python function that reverses a list"); r.status != 503 || errCode(r) != consent.CodeTaskTypeNotAllowed {
		t.Fatalf("classified code_gen from a remote client: HTTP %d %v", r.status, r.body)
	}
	if r := chat(t, srv, true, map[string]any{"task_type": "summarization"}, "Tell me about the sea"); r.status != 200 {
		t.Fatalf("declared summarization: HTTP %d %v", r.status, r.body)
	}
	// The declared type cannot hide what the text plainly is: the stricter wins.
	if r := chat(t, srv, true, map[string]any{"task_type": "summarization"}, "Write a Python function"); r.status != 503 || errCode(r) != consent.CodeTaskTypeNotAllowed {
		t.Fatalf("declared summarization for code: HTTP %d %v", r.status, r.body)
	}
	if r := chat(t, srv, true, map[string]any{"task_type": "poetry"}, "hi"); r.status != 400 || !strings.Contains(errMessage(r), "task_type") {
		t.Fatalf("unknown declared task type: HTTP %d %v", r.status, r.body)
	}
	if r := chat(t, srv, false, nil, "Write a Python function that reverses a list"); r.status != 200 {
		t.Fatalf("the owner's code request: HTTP %d %v", r.status, r.body)
	}
}

func TestInvalidContractStopsStart(t *testing.T) {
	ct := consent.Default()
	ct.MaxConcurrentTasks = 0
	ct.Schedule = "9-5"
	n := New(Config{DataDir: t.TempDir(), APIPort: -1, Consent: &ct})
	err := n.Start(t.Context())
	if err == nil || !strings.Contains(err.Error(), "max_concurrent_tasks") || !strings.Contains(err.Error(), "schedule") {
		t.Fatalf("start with an invalid contract: %v", err)
	}
}

func TestCPUPercentSetsThreadsAndDutyCycle(t *testing.T) {
	n := startTestNode(t, t.TempDir(), func(c *Config) {
		ct := fullCPU
		ct.CPUPercent = 10
		c.Consent = &ct
		c.Engine.Threads = 0
	})
	threads, duty := n.KernelSettings()
	if threads != 1 || duty <= 0 || duty >= 1 {
		t.Fatalf("cpu_percent 10: %d threads, duty %.3f; want 1 thread and a duty cycle below 1", threads, duty)
	}
	// Defect 1: the contract is about work for others; the owner gets every core.
	if got := n.OwnerThreads(); got != runtime.NumCPU() {
		t.Fatalf("owner threads = %d, want every core (%d)", got, runtime.NumCPU())
	}
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
