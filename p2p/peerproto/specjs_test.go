package peerproto

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// specJSExample is the WebSocket example of spec/aria-api-reference.md, verbatim.
const specJSExample = `const ws = new WebSocket('ws://localhost:8765');

ws.onopen = () => {
  // Send inference request
  ws.send(JSON.stringify({
    type: 'inference_request',
    request_id: 'req-' + Date.now(),
    data: {
      query: 'What is AI?',
      model_id: 'aria-2b-1bit',
      max_tokens: 100
    }
  }));
};

ws.onmessage = (event) => {
  const msg = JSON.parse(event.data);
  if (msg.type === 'inference_response') {
    console.log('Result:', msg.data.output);
  }
};
`

// TestSpecJSExampleInNode runs the spec's browser example in Node's WebSocket
// (only the URL changes; the harness exits after the first console.log).
func TestSpecJSExampleInNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	flags := []string{}
	if out, _ := exec.Command(node, "-e", "process.stdout.write(typeof WebSocket)").Output(); string(out) != "function" {
		flags = append(flags, "--experimental-websocket") // Node 20/21
	}
	if out, _ := exec.Command(node, append(flags, "-e", "process.stdout.write(typeof WebSocket)")...).Output(); string(out) != "function" {
		t.Skip("this node has no WebSocket")
	}
	ts := startServer(t, ServerConfig{Handler: &fakeHandler{chunks: []string{"AI is ", "artificial intelligence."}}})
	script := "const _log = console.log; console.log = (...a) => { _log(...a); process.exit(0); };\n" +
		"setTimeout(() => { console.error('no inference_response'); process.exit(2); }, 10000);\n" +
		strings.Replace(specJSExample, "ws://localhost:8765", ts.url, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, append(flags, "--input-type=module", "-e", script)...).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Result: AI is artificial intelligence.") {
		t.Fatalf("node printed %q", out)
	}
}
