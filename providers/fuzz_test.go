package providers

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzDecodeUpstream feeds arbitrary upstream answers to both decoders (a JSON
// completion and an SSE stream): they return a response or an error, never panic, and
// a decoded stream's deltas add up to its final content.
func FuzzDecodeUpstream(f *testing.F) {
	f.Add([]byte(`{"id":"x","model":"m","choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`))
	f.Add([]byte(`{"choices":[{"message":{"content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}}]}`))
	f.Add([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"f\",\"arguments\":\"{\"}}]}}]}\n\ndata: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n"))
	f.Add([]byte(": keep-alive\n\nevent: x\ndata: {\"error\":{\"message\":\"boom\"}}\n\n"))
	f.Add([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}]}"))
	f.Add([]byte("data: {\"choices\":[{\"delta\":{\"content\":[1]}}]}\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if resp, err := decodeCompletion(b); err == nil && resp.Message.Role != "assistant" {
			t.Fatalf("role %q", resp.Message.Role)
		}
		var sb strings.Builder
		resp, err := decodeStream(bytes.NewReader(b), func(d Delta) error { sb.WriteString(d.Content); return nil })
		if err != nil {
			return
		}
		if resp.Message.Content != sb.String() {
			t.Fatalf("content %q, deltas %q", resp.Message.Content, sb.String())
		}
		for _, c := range resp.Message.ToolCalls {
			if c.Function.Name == "" {
				t.Fatal("tool call without a name accepted")
			}
		}
	})
}
