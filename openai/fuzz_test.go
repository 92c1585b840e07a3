package openai

import (
	"encoding/json"
	"net/http"
	"testing"
)

// FuzzDecodeChatRequest feeds arbitrary bodies through the two pure steps of the chat
// endpoint: they must never panic, and must either succeed with a request the engine
// can take or fail with a 400 invalid_request_error that says something.
func FuzzDecodeChatRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"aria-2b-1bit","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":"u"}],"max_tokens":150,"temperature":0.7}`,
		`{"model":"m","messages":[{"role":"developer","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],"n":3,"seed":-1}`,
		`{"model":"m","messages":[{"role":"user","content":null}],"stop":["a","b"],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"model":"m","messages":[{"role":"user","content":"x"}],"stop":"END","top_p":0.9,"top_k":40,"min_p":0.1,"repeat_penalty":1.1}`,
		`{"model":"m","messages":[{"role":"user","content":"x"}],"presence_penalty":2,"frequency_penalty":-2,"max_completion_tokens":5}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]}`,
		`{"model":"m","messages":[{"role":"user","content":5}],"stop":5}`,
		`{"model":"m","messages":"x","temperature":"hot","max_tokens":1.5,"stream":"yes"}`,
		`{"model":"m","messages":[],"n":17}`,
		`{"model":"m","messages":[{"role":"wizard"}]}`,
		`{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":1e400}`,
		`{"model":`,
		`[]`,
		`null`,
		``,
		`{} {}`,
		`{"model":"m","messages":[{"role":"user","content":"\ud800"}]}`,
		"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}",
		`{"model":"m","messages":[{"role":"user","content":"q"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"integer","minimum":1}}}}}],"tool_choice":"required"}`,
		`{"model":"m","messages":[{"role":"user","content":"q"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"anyOf":[{"type":"string","pattern":"^a+$"},{"$ref":"#/$defs/n"}],"$defs":{"n":{"type":"null"}}}}}}`,
		`{"model":"m","messages":[{"role":"user","content":"q"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"r"}],"logprobs":true,"top_logprobs":3}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(stage string, e *APIError) {
			if e.Status != http.StatusBadRequest || e.Type != TypeInvalidRequest || e.Message == "" || e.Code == "" {
				t.Fatalf("%s error %+v for %q: want a 400 invalid_request_error with a message", stage, e, body)
			}
		}
		req, apiErr := decodeChatRequest(body)
		if apiErr != nil {
			check("decode", apiErr)
			return
		}
		if req == nil {
			t.Fatalf("no request and no error for %q", body)
		}
		p, apiErr := toEngineRequest(req)
		if apiErr != nil {
			check("convert", apiErr)
			return
		}
		r := p.req
		s := r.Sampling
		switch {
		case r.Model == "" || len(r.Messages) == 0:
			t.Fatalf("accepted a request without model or messages: %q", body)
		case r.MaxTokens <= 0:
			t.Fatalf("accepted max tokens %d: %q", r.MaxTokens, body)
		case p.n < 1 || p.n > MaxN:
			t.Fatalf("accepted n=%d: %q", p.n, body)
		case len(r.Stop) > MaxStops:
			t.Fatalf("accepted %d stops: %q", len(r.Stop), body)
		case !(s.Temperature >= 0 && s.Temperature <= 2), !(s.TopP > 0 && s.TopP <= 1), s.TopK < 0,
			!(s.MinP >= 0 && s.MinP < 1), !(s.RepeatPenalty > 0),
			!(s.PresencePenalty >= -2 && s.PresencePenalty <= 2), !(s.FrequencyPenalty >= -2 && s.FrequencyPenalty <= 2):
			t.Fatalf("accepted sampling %+v: %q", s, body)
		case p.includeUsage && !p.stream:
			t.Fatalf("include_usage without stream: %q", body)
		}
		for _, m := range r.Messages {
			if m.Role != "system" && m.Role != "user" && m.Role != "assistant" {
				t.Fatalf("accepted role %q: %q", m.Role, body)
			}
		}
		for i := range p.n {
			c := p.forChoice(i)
			if c.Sampling.RandomSeed == p.seeded {
				t.Fatalf("choice %d: RandomSeed %v with seeded %v", i, c.Sampling.RandomSeed, p.seeded)
			}
		}
	})
}

// FuzzDecodeOtherBodies: the embeddings and completions decoders never panic, and
// every refusal is a 400 with a message.
func FuzzDecodeOtherBodies(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","input":"hi"}`, `{"model":"m","input":["a","b"],"encoding_format":"base64"}`,
		`{"model":"m","input":[1,2,3]}`, `{"model":"m","input":[[1],[2,3]]}`, `{"model":"m","input":[[]]}`,
		`{"model":"m","input":[1,"a"]}`, `{"model":"m","prompt":"x","max_tokens":3,"logprobs":2,"echo":true}`,
		`{"model":"m","prompt":["a","b"],"n":9}`, `{"model":"m","prompt":[[1,2]]}`, `{"model":"m","prompt":"x","suffix":"y"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(e *APIError) {
			if e.Status != http.StatusBadRequest || e.Message == "" {
				t.Fatalf("error %+v for %q", e, body)
			}
		}
		if req, apiErr := decodeEmbeddingRequest(body); apiErr != nil {
			check(apiErr)
		} else if req.Input.Inputs() == 0 || req.Model == "" {
			t.Fatalf("accepted %q", body)
		}
		var cr CompletionRequest
		if err := json.Unmarshal(body, &cr); err != nil {
			check(jsonError(err, body))
			return
		}
		if p, apiErr := toCompletionParams(&cr); apiErr != nil {
			check(apiErr)
		} else if len(p.prompts)*p.chat.n > MaxN || len(p.prompts) == 0 {
			t.Fatalf("accepted %d completions: %q", len(p.prompts)*p.chat.n, body)
		}
	})
}
