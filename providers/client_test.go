package providers_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aria-node/aria/providers"
	"github.com/aria-node/aria/providers/upstreamtest"
)

func newClient(t *testing.T, up *upstreamtest.Server, opts ...providers.ClientOption) *providers.Client {
	t.Helper()
	c, err := providers.NewClient("up", up.BaseURL(), "sk-test", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func userTurn(model, text string) providers.ChatRequest {
	return providers.ChatRequest{Model: model, Messages: []providers.Message{{Role: "user", Content: text}}}
}

func TestClientChatPlainAndStream(t *testing.T) {
	up := upstreamtest.Start(t, upstreamtest.Reply{Content: "hello there friend"}, upstreamtest.Reply{Content: "one two three"})
	c := newClient(t, up)
	ctx := context.Background()

	resp, err := c.Chat(ctx, userTurn("m1", "say hi please"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Message.Content != "hello there friend" || resp.Message.Role != "assistant" || resp.FinishReason != "stop" {
		t.Fatalf("plain: %+v", resp)
	}
	if resp.Usage != (providers.Usage{PromptTokens: 3, CompletionTokens: 3, TotalTokens: 6}) || resp.UsageEstimated {
		t.Fatalf("plain usage %+v (estimated %v)", resp.Usage, resp.UsageEstimated)
	}

	var deltas []string
	resp, err = c.ChatStream(ctx, userTurn("m1", "count"), func(d providers.Delta) error {
		deltas = append(deltas, d.Content)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(deltas, "|") != "one |two |three" || resp.Message.Content != "one two three" {
		t.Fatalf("stream deltas %q, content %q", deltas, resp.Message.Content)
	}
	if resp.Usage.CompletionTokens != 3 || resp.Usage.PromptTokens != 1 {
		t.Fatalf("stream usage %+v", resp.Usage)
	}
	reqs := up.Requests()
	if len(reqs) != 2 || reqs[0].Authorization != "Bearer sk-test" || reqs[0].Chat.Model != "m1" || reqs[0].Chat.Stream || !reqs[1].Chat.Stream {
		t.Fatalf("recorded requests %+v", reqs)
	}
	if !strings.Contains(string(reqs[1].Body), `"include_usage":true`) {
		t.Fatalf("stream request without include_usage: %s", reqs[1].Body)
	}
}

func TestClientToolCalls(t *testing.T) {
	call := providers.ToolCall{ID: "call_1", Type: "function", Function: providers.ToolCallFunction{Name: "calculator", Arguments: `{"expression":"2+2"}`}}
	up := upstreamtest.Start(t, upstreamtest.Reply{ToolCalls: []providers.ToolCall{call}}, upstreamtest.Reply{ToolCalls: []providers.ToolCall{call}})
	c := newClient(t, up)
	req := userTurn("m", "what is 2+2")
	req.Tools = []providers.Tool{{Type: "function", Function: providers.ToolFunction{Name: "calculator", Parameters: []byte(`{"type":"object"}`)}}}
	for _, stream := range []bool{false, true} {
		var resp *providers.ChatResponse
		var err error
		var frags int
		if stream {
			resp, err = c.ChatStream(context.Background(), req, func(d providers.Delta) error { frags += len(d.ToolCalls); return nil })
		} else {
			resp, err = c.Chat(context.Background(), req)
		}
		if err != nil {
			t.Fatal(err)
		}
		if resp.FinishReason != "tool_calls" || len(resp.Message.ToolCalls) != 1 || resp.Message.ToolCalls[0] != call {
			t.Fatalf("stream=%v: %+v", stream, resp)
		}
		if stream && frags != 2 {
			t.Fatalf("tool call fragments %d, want 2", frags)
		}
	}
	// The history with the tool call and its result goes back as OpenAI expects.
	req.Messages = append(req.Messages, providers.Message{Role: "assistant", ToolCalls: []providers.ToolCall{call}},
		providers.Message{Role: "tool", ToolCallID: "call_1", Content: "4"})
	if _, err := c.Chat(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	got := up.Requests()[2]
	if !strings.Contains(string(got.Body), `"content":null`) || !strings.Contains(string(got.Body), `"tool_call_id":"call_1"`) {
		t.Fatalf("history sent: %s", got.Body)
	}
	if len(got.Chat.Messages) != 3 || got.Chat.Messages[1].ToolCalls[0] != call {
		t.Fatalf("decoded history %+v", got.Chat.Messages)
	}
}

func TestClientErrors(t *testing.T) {
	cases := []struct {
		name  string
		reply upstreamtest.Reply
		check func(t *testing.T, err error)
	}{
		{"429", upstreamtest.Reply{Status: 429, RetryAfter: "7"}, func(t *testing.T, err error) {
			var rl *providers.RateLimitError
			if !errors.As(err, &rl) || rl.RetryAfter != 7 || err.Error() != "Rate limit exceeded for provider 'up'" {
				t.Fatalf("got %v", err)
			}
		}},
		{"500", upstreamtest.Reply{Status: 500}, func(t *testing.T, err error) {
			var ue *providers.UpstreamError
			if !errors.As(err, &ue) || ue.Status != 500 || !strings.Contains(err.Error(), "scripted 500") {
				t.Fatalf("got %v", err)
			}
		}},
		{"garbage", upstreamtest.Reply{Body: "<html>oops</html>"}, func(t *testing.T, err error) {
			var ue *providers.UpstreamError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), "not an OpenAI chat completion") {
				t.Fatalf("got %v", err)
			}
		}},
		{"hang", upstreamtest.Reply{Hang: true}, func(t *testing.T, err error) {
			var ue *providers.UpstreamError
			if !errors.As(err, &ue) || !ue.Timeout {
				t.Fatalf("got %v", err)
			}
		}},
		{"endless", upstreamtest.Reply{Endless: true}, func(t *testing.T, err error) {
			var ue *providers.UpstreamError
			if !errors.As(err, &ue) || (!ue.Timeout && !strings.Contains(err.Error(), "larger than")) {
				t.Fatalf("got %v", err)
			}
		}},
	}
	for _, tc := range cases {
		for _, stream := range []bool{false, true} {
			t.Run(tc.name, func(t *testing.T) {
				up := upstreamtest.Start(t, tc.reply)
				c := newClient(t, up, providers.WithTimeout(2*time.Second), providers.WithMaxBytes(256<<10))
				start := time.Now()
				var err error
				if stream {
					_, err = c.ChatStream(context.Background(), userTurn("m", "hi"), func(providers.Delta) error { return nil })
				} else {
					_, err = c.Chat(context.Background(), userTurn("m", "hi"))
				}
				if err == nil {
					t.Fatal("no error")
				}
				tc.check(t, err)
				if d := time.Since(start); d > 30*time.Second {
					t.Fatalf("took %s", d) // bounded by the client's deadline, not the upstream
				}
			})
		}
	}
}

func TestClientStreamCallbackErrorStops(t *testing.T) {
	up := upstreamtest.Start(t, upstreamtest.Reply{Endless: true})
	c := newClient(t, up)
	stop := errors.New("client went away")
	n := 0
	_, err := c.ChatStream(context.Background(), userTurn("m", "hi"), func(providers.Delta) error {
		if n++; n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("got %v", err)
	}
}

func TestNewClientRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "ftp://x/v1", "not a url", "http://"} {
		if _, err := providers.NewClient("p", u, ""); err == nil || !strings.Contains(err.Error(), "provider 'p'") {
			t.Errorf("%q: %v", u, err)
		}
	}
}
