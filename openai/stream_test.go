package openai

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aria-node/aria/inference"
)

// chunkChoice returns the single choice of a chunk, failing on any other count.
func chunkChoice(t *testing.T, ev sseEvent) map[string]any {
	t.Helper()
	cs, ok := ev.json["choices"].([]any)
	if !ok || len(cs) != 1 {
		t.Fatalf("chunk has choices %v, want exactly one: %s", ev.json["choices"], ev.raw)
	}
	return cs[0].(map[string]any)
}

func choiceIndex(t *testing.T, c map[string]any) int {
	t.Helper()
	var i int
	if _, err := fmt.Sscan(fmt.Sprint(c["index"]), &i); err != nil {
		t.Fatalf("bad index %v", c["index"])
	}
	return i
}

// streamSummary is a parsed, checked stream of chat chunks.
type streamSummary struct {
	content   map[int]string // concatenated content per choice
	order     []int          // choice index of every content-bearing chunk, in order
	finish    map[int]string
	usage     map[string]any
	done      bool
	errorBody map[string]any
}

// checkStream verifies the framing and ordering rules every stream obeys and sums it up:
// all chunks share id/created/model; each choice's first chunk carries role assistant
// and no later one does; content is never empty; a choice finishes once, with an empty
// delta, after its content; the usage chunk (if any) has no choices and comes after
// every finish; [DONE] (if any) is last; an error event (if any) is last.
func checkStream(t *testing.T, evs []sseEvent) streamSummary {
	t.Helper()
	s := streamSummary{content: map[int]string{}, finish: map[int]string{}}
	var id, created any
	roleSeen := map[int]bool{}
	for i, ev := range evs {
		last := i == len(evs)-1
		if ev.json == nil {
			if !last {
				t.Fatalf("[DONE] at event %d of %d", i, len(evs))
			}
			s.done = true
			continue
		}
		if _, ok := ev.json["error"]; ok {
			if !last {
				t.Fatalf("error event %d is not the last of %d", i, len(evs))
			}
			assertErrorBody(t, []byte(ev.raw))
			s.errorBody = ev.json
			continue
		}
		if ev.json["object"] != "chat.completion.chunk" {
			t.Fatalf("event %d object %v, want chat.completion.chunk", i, ev.json["object"])
		}
		if i == 0 {
			id, created = ev.json["id"], ev.json["created"]
			if !idPattern.MatchString(fmt.Sprint(id)) {
				t.Errorf("chunk id %v does not match %s", id, idPattern)
			}
		} else if ev.json["id"] != id || fmt.Sprint(ev.json["created"]) != fmt.Sprint(created) {
			t.Errorf("event %d id/created %v/%v differ from the first chunk's %v/%v", i, ev.json["id"], ev.json["created"], id, created)
		}
		if ev.json["model"] != "aria-2b-1bit" {
			t.Errorf("event %d model %v", i, ev.json["model"])
		}
		if u, ok := ev.json["usage"]; ok {
			if cs, _ := ev.json["choices"].([]any); cs == nil || len(cs) != 0 {
				t.Errorf("usage chunk has choices %v, want []", ev.json["choices"])
			}
			if s.usage != nil {
				t.Errorf("two usage chunks")
			}
			s.usage, _ = u.(map[string]any)
			continue
		}
		if s.usage != nil {
			t.Errorf("event %d follows the usage chunk", i)
		}
		c := chunkChoice(t, ev)
		idx := choiceIndex(t, c)
		delta, ok := c["delta"].(map[string]any)
		if !ok {
			t.Fatalf("event %d has no delta object: %s", i, ev.raw)
		}
		if _, done := s.finish[idx]; done {
			t.Errorf("event %d: choice %d continues after its finish chunk", i, idx)
		}
		role, hasRole := delta["role"]
		if !roleSeen[idx] {
			if role != "assistant" {
				t.Errorf("event %d: first chunk of choice %d has role %v, want assistant", i, idx, role)
			}
			roleSeen[idx] = true
		} else if hasRole {
			t.Errorf("event %d: choice %d repeats the role", i, idx)
		}
		for k := range delta {
			if k != "role" && k != "content" {
				t.Errorf("event %d: unexpected delta field %q", i, k)
			}
		}
		if text, ok := delta["content"]; ok {
			str, _ := text.(string)
			if str == "" {
				t.Errorf("event %d: empty content delta: %s", i, ev.raw)
			}
			s.content[idx] += str
			s.order = append(s.order, idx)
		}
		switch fr := c["finish_reason"].(type) {
		case nil:
			if _, ok := delta["content"]; !ok && !hasRole {
				t.Errorf("event %d: chunk with neither content, role nor finish_reason: %s", i, ev.raw)
			}
		case string:
			if len(delta) != 0 {
				t.Errorf("event %d: finish chunk has a non-empty delta %v", i, delta)
			}
			s.finish[idx] = fr
		default:
			t.Errorf("event %d: finish_reason %v is neither null nor a string", i, fr)
		}
	}
	return s
}

func streamRequest(t *testing.T, e *env, body string) (response, []sseEvent) {
	t.Helper()
	r := e.chat(body)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q, want text/event-stream", ct)
	}
	return r, parseSSE(t, r.body)
}

func TestStreamFraming(t *testing.T) {
	e := newEnv(t, nil)
	r, evs := streamRequest(t, e, chatBody(`"stream":true,"stream_options":{"include_usage":true}`))
	if cc := r.header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control %q, want no-cache", cc)
	}
	s := checkStream(t, evs)
	if !s.done {
		t.Errorf("no [DONE]")
	}
	if got, want := s.content[0], strings.Join(e.backend.tokens, ""); got != want {
		t.Errorf("content %q, want %q", got, want)
	}
	if len(s.order) != len(e.backend.tokens) {
		t.Errorf("%d content chunks, want one per token (%d)", len(s.order), len(e.backend.tokens))
	}
	if s.finish[0] != "stop" || len(s.finish) != 1 {
		t.Errorf("finish %v, want {0: stop}", s.finish)
	}
	want := map[string]any{"prompt_tokens": "25", "completion_tokens": "4", "total_tokens": "29"}
	if fmt.Sprint(s.usage) != fmt.Sprint(want) {
		t.Errorf("usage %v, want %v", s.usage, want)
	}
	// The order: role+content, content..., finish, usage, [DONE].
	if n := len(evs); n != 7 || evs[4].json == nil || evs[5].json["usage"] == nil || evs[6].raw != "[DONE]" {
		t.Errorf("event order wrong: %d events", n)
	}
}

func TestStreamWithoutUsage(t *testing.T) {
	fb := newFakeBackend()
	fb.finish = inference.FinishLength
	e := newEnv(t, fb)
	for _, extra := range []string{`"stream":true`, `"stream":true,"stream_options":{"include_usage":false}`} {
		_, evs := streamRequest(t, e, chatBody(extra))
		s := checkStream(t, evs)
		if s.usage != nil {
			t.Errorf("%s: usage chunk without include_usage", extra)
		}
		for _, ev := range evs {
			if ev.json != nil {
				if _, ok := ev.json["usage"]; ok {
					t.Errorf("%s: chunk carries usage: %s", extra, ev.raw)
				}
			}
		}
		if !s.done || s.finish[0] != "length" || s.content[0] != "Once upon a time" {
			t.Errorf("%s: done=%v finish=%v content=%q", extra, s.done, s.finish, s.content[0])
		}
	}
}

func TestStreamEmptyTokens(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tokens []string
	}{
		{"interleaved", []string{"", "Hel", "", "", "lo", ""}},
		{"leading", []string{"", "", "Hi"}},
		{"all empty", []string{"", "", ""}},
		{"none", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fb := newFakeBackend()
			fb.tokens = tc.tokens
			e := newEnv(t, fb)
			_, evs := streamRequest(t, e, chatBody(`"stream":true`))
			s := checkStream(t, evs) // fails on any empty content delta
			want := strings.Join(tc.tokens, "")
			if s.content[0] != want || !s.done || s.finish[0] != "stop" {
				t.Errorf("content %q done %v finish %v, want %q/true/stop", s.content[0], s.done, s.finish, want)
			}
			nonEmpty := 0
			for _, tok := range tc.tokens {
				if tok != "" {
					nonEmpty++
				}
			}
			if len(s.order) != nonEmpty {
				t.Errorf("%d content chunks, want %d", len(s.order), nonEmpty)
			}
			// role chunk (alone when no content), content chunks, finish, [DONE]
			wantEvents := nonEmpty + 2
			if nonEmpty == 0 {
				wantEvents = 3
			}
			if len(evs) != wantEvents {
				t.Errorf("%d events, want %d", len(evs), wantEvents)
			}
		})
	}
}

func TestStreamN2Interleaves(t *testing.T) {
	fb := newFakeBackend()
	fb.tokens = []string{"a", "b", "c"}
	fb.lockstep, fb.lockBase = 2, 100
	e := newEnv(t, fb)
	_, evs := streamRequest(t, e, chatBody(`"stream":true,"n":2,"seed":100,"stream_options":{"include_usage":true}`))
	s := checkStream(t, evs)
	if !s.done {
		t.Errorf("no [DONE]")
	}
	if want := []int{0, 1, 0, 1, 0, 1}; fmt.Sprint(s.order) != fmt.Sprint(want) {
		t.Errorf("content chunks by choice %v, want %v", s.order, want)
	}
	for i := range 2 {
		if s.content[i] != "abc" || s.finish[i] != "stop" {
			t.Errorf("choice %d: content %q finish %q, want abc/stop", i, s.content[i], s.finish[i])
		}
	}
	if fmt.Sprint(s.usage["completion_tokens"]) != "6" || fmt.Sprint(s.usage["prompt_tokens"]) != "25" || fmt.Sprint(s.usage["total_tokens"]) != "31" {
		t.Errorf("usage %v, want 25 prompt + 6 completion", s.usage)
	}
	seeds := map[uint64]bool{}
	for _, r := range fb.requests() {
		seeds[r.Sampling.Seed] = true
	}
	if !seeds[100] || !seeds[101] || len(seeds) != 2 {
		t.Errorf("choices used seeds %v, want 100 and 101", seeds)
	}
}

func TestStreamNWithoutLockstep(t *testing.T) {
	e := newEnv(t, nil)
	_, evs := streamRequest(t, e, chatBody(`"stream":true,"n":4`))
	s := checkStream(t, evs)
	for i := range 4 {
		if s.content[i] != "Once upon a time" || s.finish[i] != "stop" {
			t.Errorf("choice %d: %q/%q", i, s.content[i], s.finish[i])
		}
	}
	if len(s.content) != 4 || len(s.finish) != 4 || !s.done {
		t.Errorf("choices %d finished %d done %v", len(s.content), len(s.finish), s.done)
	}
}

func TestStreamErrorAfterTokens(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		after int
		code  string
	}{
		{"generic after 2", errors.New("kernel fault"), 2, "inference_error"},
		{"busy after 1", inference.ErrBusy, 1, "queue_full"},
		{"closed after all", inference.ErrClosed, 4, "node_unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fb := newFakeBackend()
			fb.failErr, fb.failAfter = tc.err, tc.after
			e := newEnv(t, fb)
			_, evs := streamRequest(t, e, chatBody(`"stream":true,"stream_options":{"include_usage":true}`))
			s := checkStream(t, evs)
			if s.done {
				t.Errorf("a failed stream ends with [DONE]")
			}
			if s.errorBody == nil {
				t.Fatalf("no error event; events: %d", len(evs))
			}
			if s.usage != nil || len(s.finish) != 0 {
				t.Errorf("failed stream has usage %v / finish %v", s.usage, s.finish)
			}
			eb := s.errorBody["error"].(map[string]any)
			if eb["code"] != tc.code {
				t.Errorf("error code %v, want %s", eb["code"], tc.code)
			}
			if want := strings.Join(fb.tokens[:tc.after], ""); s.content[0] != want {
				t.Errorf("content before the error %q, want %q", s.content[0], want)
			}
		})
	}
}

// An error after tokens that carried no text still gets a proper status: nothing was sent.
func TestStreamErrorAfterEmptyTokensIsJSON(t *testing.T) {
	fb := newFakeBackend()
	fb.tokens = []string{"", "", "x"}
	fb.failErr, fb.failAfter = inference.ErrBusy, 2
	e := newEnv(t, fb)
	r := e.chat(chatBody(`"stream":true`))
	if r.status != http.StatusServiceUnavailable || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d Content-Type %q, want 503 JSON: %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	if eb := assertErrorBody(t, r.body); eb.Code != "queue_full" {
		t.Errorf("code %s, want queue_full", eb.Code)
	}
}

// sseReader reads events one by one from a live stream.
type sseReader struct{ br *bufio.Reader }

func (r sseReader) next() (string, error) {
	line, err := r.br.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(line, "data: ") {
		return "", fmt.Errorf("bad event line %q", line)
	}
	blank, err := r.br.ReadString('\n')
	if err != nil {
		return "", err
	}
	if blank != "\n" {
		return "", fmt.Errorf("event not followed by a blank line: %q", blank)
	}
	return strings.TrimSuffix(strings.TrimPrefix(line, "data: "), "\n"), nil
}

func openStream(t *testing.T, ctx context.Context, c *http.Client, url, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "POST", url+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("status %d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return resp
}

func TestStreamClientDisconnectCancelsBackend(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			fb := newFakeBackend()
			fb.holdAt = 2 // two tokens, then wait for ctx (release is nil: never)
			e := newEnv(t, fb)
			// The timeout bounds every read below should the server stop flushing.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			resp := openStream(t, ctx, e.ts.Client(), e.ts.URL, chatBody(fmt.Sprintf(`"stream":true,"n":%d`, n)))
			defer resp.Body.Close()
			rd := sseReader{bufio.NewReader(resp.Body)}
			// Every choice sends its first two tokens before parking, so 2n events arrive.
			for i := range 2 * n {
				ev, err := rd.next()
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				if ev == "[DONE]" {
					t.Fatalf("stream finished while the backend is parked")
				}
			}
			waitClosed(t, fb.generating, "the backend to park")
			cancel()
			resp.Body.Close()
			waitClosed(t, fb.cancelled, "the backend's ctx to be cancelled after the client left")
			waitClosed(t, fb.returned, "Generate to return after cancellation")
		})
	}
}

func TestNonStreamClientDisconnectCancelsBackend(t *testing.T) {
	fb := newFakeBackend()
	fb.holdAt = 1
	e := newEnv(t, fb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", e.ts.URL+"/v1/chat/completions", strings.NewReader(chatBody(`"n":2`)))
	req.Header.Set("Content-Type", "application/json")
	errc := make(chan error, 1)
	go func() {
		resp, err := e.ts.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	waitClosed(t, fb.generating, "the backend to park")
	cancel()
	waitClosed(t, fb.cancelled, "the backend's ctx to be cancelled after the client left")
	if err := waitErr(t, errc, "the client to return"); err == nil {
		t.Errorf("the cancelled request got a response")
	}
}
