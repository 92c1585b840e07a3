package peerproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

func TestDecodeEnvelope(t *testing.T) {
	ok := []struct {
		name, in string
		want     Envelope
	}{
		{"spec JS request", `{"type":"inference_request","request_id":"req-1","data":{"query":"What is AI?","model_id":"aria-2b-1bit","max_tokens":100}}`,
			Envelope{Type: "inference_request", RequestID: "req-1", Data: json.RawMessage(`{"query":"What is AI?","model_id":"aria-2b-1bit","max_tokens":100}`)}},
		{"full", ` {"type":"ping","request_id":"r","sender_id":"s","data":[1],"timestamp":1767225600.5,"protocol":"aria/0.1"} `,
			Envelope{Type: "ping", RequestID: "r", SenderID: "s", Data: json.RawMessage(`[1]`), Timestamp: 1767225600.5, Protocol: "aria/0.1"}},
		{"nulls", `{"type":"ping","request_id":null,"data":null,"timestamp":null}`, Envelope{Type: "ping"}},
		{"unknown keys skipped", `{"x":{"type":"no"},"type":"ping","Type":"hello"}`, Envelope{Type: "ping"}},
	}
	for _, tc := range ok {
		got, err := DecodeEnvelope([]byte(tc.in))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
	bad := map[string]string{
		"empty":          ``,
		"null":           `null`,
		"array":          `[{"type":"ping"}]`,
		"string":         `"ping"`,
		"missing type":   `{"request_id":"r"}`,
		"empty type":     `{"type":""}`,
		"numeric type":   `{"type":1}`,
		"other case":     `{"TYPE":"ping"}`,
		"duplicate key":  `{"type":"ping","type":"hello"}`,
		"trailing":       `{"type":"ping"} {"type":"ping"}`,
		"trailing junk":  `{"type":"ping"}x`,
		"truncated":      `{"type":"ping"`,
		"string time":    `{"type":"ping","timestamp":"now"}`,
		"numeric id":     `{"type":"ping","request_id":5}`,
		"huge number":    `{"type":"ping","timestamp":1e999}`,
		"bad data":       `{"type":"ping","data":{]}`,
		"not json":       `hello`,
		"two top values": `{"type":"a"}[]`,
	}
	for name, in := range bad {
		if e, err := DecodeEnvelope([]byte(in)); err == nil {
			t.Errorf("%s: %q decoded to %+v", name, in, e)
		}
	}
	// The request id is reported even when the frame is refused.
	if e, err := DecodeEnvelope([]byte(`{"request_id":"keep"}`)); err == nil || e.RequestID != "keep" {
		t.Errorf("missing type: %+v %v", e, err)
	}
}

// Golden: what a server puts on the wire (keys and shapes the JS reads).
func TestEnvelopeWireShape(t *testing.T) {
	b, err := newEnvelope(TypeInferenceResponse, "req-1", "12D3KooWnode", InferenceResponse{
		Output: "hi", ModelID: "tiny", FinishReason: "stop", NodeID: "12D3KooWnode",
		Usage: Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"type", "request_id", "sender_id", "data", "timestamp", "protocol"} {
		if _, ok := m[k]; !ok {
			t.Errorf("envelope lacks %q: %s", k, b)
		}
	}
	if m["protocol"] != "aria/0.1" || m["timestamp"].(float64) < 1.7e9 {
		t.Errorf("protocol/timestamp: %s", b)
	}
	data, _ := json.Marshal(m["data"])
	want := `{"finish_reason":"stop","model_id":"tiny","node_id":"12D3KooWnode","output":"hi","usage":{"completion_tokens":2,"prompt_tokens":1,"total_tokens":3}}`
	if string(data) != want {
		t.Errorf("data\n got %s\nwant %s", data, want)
	}

	req, _ := json.Marshal(InferenceRequest{Query: "q", ModelID: "m", MaxTokens: 5, Stream: true, Hops: 1, TaskType: "chat", Stop: []string{"\n"}})
	if string(req) != `{"query":"q","model_id":"m","max_tokens":5,"stop":["\n"],"stream":true,"hops":1,"task_type":"chat"}` {
		t.Errorf("request wire form %s", req)
	}
}

func TestErrorIsByCode(t *testing.T) {
	var err error = &Error{Code: CodeBusy, Message: "queue full"}
	if !errors.Is(err, &Error{Code: CodeBusy}) || errors.Is(err, &Error{Code: CodeRefused}) {
		t.Fatal("Error.Is does not match by code")
	}
	lost := error(&ConnLostError{AfterFirstToken: true})
	if !errors.Is(lost, ErrConnLost) || !strings.Contains(lost.Error(), "after the first token") {
		t.Fatalf("ConnLostError: %v", lost)
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range []string{
		`{"type":"inference_request","request_id":"req-1","data":{"query":"What is AI?","model_id":"aria-2b-1bit","max_tokens":100}}`,
		`{"type":"ping","request_id":"r","sender_id":"s","data":[1,"<&>"],"timestamp":1767225600.5,"protocol":"aria/0.1"}`,
		`{"type":"a","type":"b"}`, `{"type":"x","data":null}`, `{"Type":"x","type":"y"}`, `[]`, `null`, `{"type":"\u00e9\ud800"}`,
		`{"type":"p","timestamp":-0}`, `{"type":"p","data":"\xff"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEnvelope(b)
		if err != nil {
			return
		}
		if e.Type == "" {
			t.Fatal("accepted an empty type")
		}
		if e.Data != nil && !json.Valid(e.Data) {
			t.Fatalf("Data not valid JSON: %q", e.Data)
		}
		// What we accept we can re-send, and it reads back the same.
		out, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("re-marshal: %v", err)
		}
		e2, err := DecodeEnvelope(out)
		if err != nil {
			t.Fatalf("re-decode %s: %v", out, err)
		}
		if e.Type != e2.Type || e.RequestID != e2.RequestID || e.SenderID != e2.SenderID || e.Protocol != e2.Protocol || e.Timestamp != e2.Timestamp {
			t.Fatalf("round trip changed fields: %+v vs %+v", e, e2)
		}
		var d1, d2 any
		if e.Data != nil {
			_ = json.Unmarshal(e.Data, &d1)
			_ = json.Unmarshal(e2.Data, &d2)
		}
		if !reflect.DeepEqual(d1, d2) {
			t.Fatalf("round trip changed data: %s vs %s", e.Data, e2.Data)
		}
	})
}

// FuzzServerFrame feeds arbitrary frames to a server connection's dispatch with
// no network: it must not panic, and everything it sends back must be a valid
// envelope.
func FuzzServerFrame(f *testing.F) {
	srv := NewServer(ServerConfig{Handler: &fakeHandler{}, Key: newKey(f), MaxInFlight: 2})
	for _, s := range []string{
		`{"type":"inference_request","request_id":"r","data":{"query":"What is AI?","model_id":"aria-2b-1bit","max_tokens":100}}`,
		`{"type":"inference_request","request_id":"r","data":{"messages":[{"role":"user","content":"hi"}],"stream":true,"top_k":3,"seed":1}}`,
		`{"type":"inference_request","data":{"messages":[{"content":"no role"}]}}`,
		`{"type":"cancel","request_id":"r"}`, `{"type":"get_stats"}`, `{"type":"get_peers","request_id":"p"}`,
		`{"type":"ping","data":{"x":[1,2]}}`, `{"type":"hello","data":{"peer_id":"12D3KooWBkVfBvdUAqfhWnPjvbL3QBRpvbJ5UeqctS8nhU9YhN5a","signature":"AAAA","public_key":""}}`,
		`{"type":"hello","data":7}`, `{"type":"error","data":{"code":"x"}}`, `{"type":"welcome"}`, `{"type":"`, ``,
	} {
		f.Add(false, []byte(s))
	}
	f.Add(true, []byte(`{"type":"ping"}`))
	f.Fuzz(func(t *testing.T, binary bool, b []byte) {
		c := srv.newConn(nil, "fuzz")
		stop := make(chan struct{})
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			check := func(fr []byte) {
				e, err := DecodeEnvelope(fr)
				if err != nil || e.Protocol != Protocol || e.SenderID != srv.PeerID() {
					t.Errorf("server sent a bad frame %q: %v", fr, err)
				}
			}
			for {
				select {
				case fr := <-c.link.out:
					check(fr)
				case <-stop:
					for {
						select {
						case fr := <-c.link.out:
							check(fr)
						default:
							return
						}
					}
				}
			}
		}()
		mt := websocket.TextMessage
		if binary {
			mt = websocket.BinaryMessage
		}
		c.handleFrame(mt, b)
		// Feed it twice: second copies hit duplicate-id and limit paths.
		c.handleFrame(mt, bytes.Clone(b))
		c.reqWG.Wait()
		c.cancel(errConnClosed)
		close(stop)
		<-drained
	})
}
