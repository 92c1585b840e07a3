package openai

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aria-node/aria/inference"
)

// decodeAndConvert runs both pure steps on a body.
func decodeAndConvert(body string) (chatParams, *APIError) {
	req, err := decodeChatRequest([]byte(body))
	if err != nil {
		return chatParams{}, err
	}
	return toEngineRequest(req)
}

func TestToEngineRequest(t *testing.T) {
	user := []inference.Message{{Role: "user", Content: "hi"}}
	def := inference.DefaultSampling()
	with := func(f func(*inference.Sampling)) inference.Sampling {
		s := inference.DefaultSampling()
		f(&s)
		return s
	}
	base := func(extra string) string {
		b := `{"model":"m","messages":[{"role":"user","content":"hi"}]`
		if extra != "" {
			b += "," + extra
		}
		return b + "}"
	}
	cases := []struct {
		name string
		body string
		want chatParams // only req, n, stream, includeUsage and seeded are compared
	}{
		{"defaults", base(""),
			chatParams{req: inference.Request{Model: "m", Messages: user, MaxTokens: 100, Sampling: def}, n: 1}},
		{"spec example", `{"model":"aria-2b-1bit","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"What is quantum computing?"}],"max_tokens":150,"temperature":0.7}`,
			chatParams{req: inference.Request{Model: "aria-2b-1bit", Messages: []inference.Message{
				{Role: "system", Content: "You are a helpful assistant."}, {Role: "user", Content: "What is quantum computing?"}},
				MaxTokens: 150, Sampling: with(func(s *inference.Sampling) { s.Temperature = 0.7 })}, n: 1}},
		{"developer is system", `{"model":"m","messages":[{"role":"developer","content":"be brief"},{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}`,
			chatParams{req: inference.Request{Model: "m", Messages: []inference.Message{
				{Role: "system", Content: "be brief"}, {Role: "user", Content: "hi"}, {Role: "assistant", Content: "hello"}},
				MaxTokens: 100, Sampling: def}, n: 1}},
		{"content parts", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"Hello, "},{"type":"text","text":"world"}]}]}`,
			chatParams{req: inference.Request{Model: "m", Messages: []inference.Message{{Role: "user", Content: "Hello, world"}}, MaxTokens: 100, Sampling: def}, n: 1}},
		{"empty parts", `{"model":"m","messages":[{"role":"user","content":[]}]}`,
			chatParams{req: inference.Request{Model: "m", Messages: []inference.Message{{Role: "user", Content: ""}}, MaxTokens: 100, Sampling: def}, n: 1}},
		{"null content", `{"model":"m","messages":[{"role":"assistant","content":null},{"role":"user","content":"hi"}]}`,
			chatParams{req: inference.Request{Model: "m", Messages: []inference.Message{{Role: "assistant"}, {Role: "user", Content: "hi"}}, MaxTokens: 100, Sampling: def}, n: 1}},
		{"max_completion_tokens", base(`"max_completion_tokens":33`),
			chatParams{req: inference.Request{Model: "m", Messages: user, MaxTokens: 33, Sampling: def}, n: 1}},
		{"max_tokens wins", base(`"max_completion_tokens":33,"max_tokens":44`),
			chatParams{req: inference.Request{Model: "m", Messages: user, MaxTokens: 44, Sampling: def}, n: 1}},
		{"null max_tokens is default", base(`"max_tokens":null`),
			chatParams{req: inference.Request{Model: "m", Messages: user, MaxTokens: 100, Sampling: def}, n: 1}},
		{"bounds", base(`"temperature":0,"top_p":1,"n":16,"presence_penalty":-2,"frequency_penalty":2`),
			chatParams{req: inference.Request{Model: "m", Messages: user, MaxTokens: 100, Sampling: with(func(s *inference.Sampling) {
				s.Temperature, s.TopP, s.PresencePenalty, s.FrequencyPenalty = 0, 1, -2, 2
			})}, n: 16}},
		{"temperature 2", base(`"temperature":2,"top_p":0.5`),
			chatParams{req: inference.Request{Model: "m", Messages: user, MaxTokens: 100, Sampling: with(func(s *inference.Sampling) {
				s.Temperature, s.TopP = 2, 0.5
			})}, n: 1}},
		{"extensions", base(`"top_k":40,"min_p":0.05,"repeat_penalty":1.1`),
			chatParams{req: inference.Request{Model: "m", Messages: user, MaxTokens: 100, Sampling: with(func(s *inference.Sampling) {
				s.TopK, s.MinP, s.RepeatPenalty = 40, 0.05, 1.1
			})}, n: 1}},
		{"seed", base(`"seed":1234`),
			chatParams{req: inference.Request{Model: "m", Messages: user, MaxTokens: 100, Sampling: with(func(s *inference.Sampling) {
				s.Seed, s.RandomSeed = 1234, false
			})}, n: 1, seeded: true}},
		{"seed 0", base(`"seed":0`),
			chatParams{req: inference.Request{Model: "m", Messages: user, MaxTokens: 100, Sampling: with(func(s *inference.Sampling) {
				s.Seed, s.RandomSeed = 0, false
			})}, n: 1, seeded: true}},
		{"stop string", base(`"stop":"END"`),
			chatParams{req: inference.Request{Model: "m", Messages: user, MaxTokens: 100, Stop: []string{"END"}, Sampling: def}, n: 1}},
		{"stop array", base(`"stop":["a","b"]`),
			chatParams{req: inference.Request{Model: "m", Messages: user, MaxTokens: 100, Stop: []string{"a", "b"}, Sampling: def}, n: 1}},
		{"stop null", base(`"stop":null`),
			chatParams{req: inference.Request{Model: "m", Messages: user, MaxTokens: 100, Sampling: def}, n: 1}},
		{"16 stops", base(`"stop":["1","2","3","4","5","6","7","8","9","10","11","12","13","14","15","16"]`),
			chatParams{req: inference.Request{Model: "m", Messages: user, MaxTokens: 100,
				Stop: strings.Split("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16", ","), Sampling: def}, n: 1}},
		{"stream", base(`"stream":true`),
			chatParams{req: inference.Request{Model: "m", Messages: user, MaxTokens: 100, Sampling: def}, n: 1, stream: true}},
		{"stream with usage", base(`"stream":true,"stream_options":{"include_usage":true}`),
			chatParams{req: inference.Request{Model: "m", Messages: user, MaxTokens: 100, Sampling: def}, n: 1, stream: true, includeUsage: true}},
		{"stream options null", base(`"stream_options":null`),
			chatParams{req: inference.Request{Model: "m", Messages: user, MaxTokens: 100, Sampling: def}, n: 1}},
		{"unknown fields", base(`"logit_bias":{"50256":-100},"tools":[],"user":"u"`),
			chatParams{req: inference.Request{Model: "m", Messages: user, MaxTokens: 100, Sampling: def}, n: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeAndConvert(tc.body)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got.req, tc.want.req) {
				t.Errorf("request\n got  %+v\n want %+v", got.req, tc.want.req)
			}
			if got.n != tc.want.n || got.stream != tc.want.stream || got.includeUsage != tc.want.includeUsage || got.seeded != tc.want.seeded {
				t.Errorf("n/stream/includeUsage/seeded = %d/%v/%v/%v, want %d/%v/%v/%v", got.n, got.stream, got.includeUsage, got.seeded,
					tc.want.n, tc.want.stream, tc.want.includeUsage, tc.want.seeded)
			}
		})
	}
}

func TestForChoiceSeeds(t *testing.T) {
	p, err := decodeAndConvert(`{"model":"m","messages":[{"role":"user","content":"hi"}],"seed":7,"n":4}`)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for i := range p.n {
		r := p.forChoice(i)
		if r.Sampling.RandomSeed {
			t.Errorf("choice %d of a seeded request has a random seed", i)
		}
		if seen[r.Sampling.Seed] {
			t.Errorf("choice %d repeats seed %d", i, r.Sampling.Seed)
		}
		seen[r.Sampling.Seed] = true
		if i == 0 && r.Sampling.Seed != 7 {
			t.Errorf("choice 0 seed %d, want the request's 7", r.Sampling.Seed)
		}
		// Reproducible: the same choice gets the same seed every time.
		if again := p.forChoice(i); again.Sampling.Seed != r.Sampling.Seed {
			t.Errorf("choice %d seed is not stable", i)
		}
	}
	if p.req.Sampling.Seed != 7 {
		t.Errorf("forChoice changed the shared request's seed to %d", p.req.Sampling.Seed)
	}

	// Unseeded: every choice draws its own random seed.
	p, err = decodeAndConvert(`{"model":"m","messages":[{"role":"user","content":"hi"}],"n":3}`)
	if err != nil {
		t.Fatal(err)
	}
	for i := range p.n {
		if !p.forChoice(i).Sampling.RandomSeed {
			t.Errorf("choice %d of an unseeded request is not random", i)
		}
	}
}

func TestDecodeChatRequestErrors(t *testing.T) {
	for _, c := range []struct {
		body, mention string
	}{
		{``, "empty"},
		{`{`, "malformed JSON"},
		{`{"model":"m",}`, "malformed JSON"},
		{`[1]`, "JSON object"},
		{`true`, "JSON object"},
		{`{"n":1.5}`, "'n' must be an integer"},
		{`{"temperature":"x"}`, "'temperature' must be a number"},
		{`{"messages":{}}`, "'messages' must be an array"},
		{`{"stream":1}`, "'stream' must be a boolean"},
		{`{"model":[]}`, "'model' must be a string"},
		{`{"stream_options":[]}`, "'stream_options' must be an object"},
		{`{} {}`, "single JSON object"},
	} {
		_, err := decodeChatRequest([]byte(c.body))
		if err == nil {
			t.Errorf("%s: no error", c.body)
			continue
		}
		if err.Status != http.StatusBadRequest || err.Type != TypeInvalidRequest || err.Code != "invalid_request" {
			t.Errorf("%s: %+v, want a 400 invalid_request", c.body, err)
		}
		if !strings.Contains(err.Message, c.mention) {
			t.Errorf("%s: message %q does not contain %q", c.body, err.Message, c.mention)
		}
	}
}

func TestToModel(t *testing.T) {
	info := testModel("aria-2b-1bit")
	m := toModel(info, false)
	want := Model{ID: "aria-2b-1bit", Object: "model", Created: testLoadedAt.Unix(), OwnedBy: "aria-protocol",
		Permission: []any{}, Root: "aria-2b-1bit",
		Aria: &ModelExtra{Architecture: "bitnet", Parameters: 2_000_000_000, QuantTypes: []string{"I2_S", "F16"}, ContextLength: 2048, FileSize: 1 << 30}}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("toModel\n got  %+v %+v\n want %+v %+v", m, m.Aria, want, want.Aria)
	}
	info.Synthetic = true
	if m := toModel(info, true); !m.Aria.Synthetic || m.Aria.Note == "" || !m.Aria.Remote {
		t.Errorf("synthetic remote model: %+v", m.Aria)
	}
	b, _ := json.Marshal(toModel(testModel("x"), false))
	if !strings.Contains(string(b), `"parent":null`) || !strings.Contains(string(b), `"permission":[]`) {
		t.Errorf("model JSON %s lacks parent null / permission []", b)
	}
	if m := toModel(inference.ModelInfo{ID: "y", LoadedAt: time.Unix(1706745600, 0)}, false); m.Created != 1706745600 {
		t.Errorf("created %d", m.Created)
	}
}

func TestFromEngineWrapsAPIError(t *testing.T) {
	in := &APIError{Status: 418, Type: "x", Code: "y", Message: "z"}
	if got := fromEngine(in); got != in {
		t.Errorf("fromEngine(APIError) = %+v, want it unchanged", got)
	}
}
