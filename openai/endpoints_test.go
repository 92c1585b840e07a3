package openai

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/aria-node/aria/inference"
)

// Embed makes the fake an EmbeddingBackend: vector i is [len(text), i], one token per
// byte (or per id).
func (f *fakeBackend) Embed(ctx context.Context, req inference.EmbedRequest) (inference.EmbedResult, error) {
	var res inference.EmbedResult
	for i, t := range req.Texts {
		res.Vectors = append(res.Vectors, []float32{float32(len(t)), float32(i)})
		res.PromptTokens += len(t)
	}
	for i, t := range req.Tokens {
		res.Vectors = append(res.Vectors, []float32{float32(len(t)), float32(i)})
		res.PromptTokens += len(t)
	}
	return res, nil
}

func TestEmbeddingsEndpoint(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(http.MethodPost, "/v1/embeddings", `{"model":"aria-2b-1bit","input":["abc","de"]}`)
	var l EmbeddingList
	if err := json.Unmarshal(r.body, &l); err != nil || r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if l.Object != "list" || len(l.Data) != 2 || l.Data[1].Index != 1 || l.Usage.PromptTokens != 5 || l.Usage.TotalTokens != 5 {
		t.Fatalf("%s", r.body)
	}
	r = e.do(http.MethodPost, "/v1/embeddings", `{"model":"aria-2b-1bit","input":[5,6,7],"encoding_format":"base64"}`)
	var raw struct {
		Data []struct {
			Embedding string `json:"embedding"`
		} `json:"data"`
	}
	json.Unmarshal(r.body, &raw)
	b, err := base64.StdEncoding.DecodeString(raw.Data[0].Embedding)
	if err != nil || len(b) != 8 || math.Float32frombits(binary.LittleEndian.Uint32(b)) != 3 {
		t.Fatalf("base64 %s", r.body)
	}
	for _, c := range []struct{ body, field string }{
		{`{"model":"aria-2b-1bit","input":""}`, "input[0]"},
		{`{"model":"aria-2b-1bit","input":[]}`, "input"},
		{`{"model":"aria-2b-1bit"}`, "input"},
		{`{"model":"aria-2b-1bit","input":[[]]}`, "input[0]"},
		{`{"model":"aria-2b-1bit","input":[1,"a"]}`, "input"},
		{`{"model":"aria-2b-1bit","input":"a","dimensions":8}`, "dimensions"},
		{`{"model":"aria-2b-1bit","input":"a","encoding_format":"int8"}`, "encoding_format"},
	} {
		r := e.do(http.MethodPost, "/v1/embeddings", c.body)
		if r.status != 400 || !strings.Contains(string(r.body), "'"+c.field+"'") {
			t.Errorf("%s: %d %s", c.body, r.status, r.body)
		}
	}
}

func TestCompletionsEndpoint(t *testing.T) {
	fb := newFakeBackend()
	e := newEnv(t, fb)
	r := e.do(http.MethodPost, "/v1/completions", `{"model":"aria-2b-1bit","prompt":["A","B"],"n":2,"echo":true,"max_tokens":4,"stop":"x"}`)
	var c Completion
	if err := json.Unmarshal(r.body, &c); err != nil || r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if c.Object != "text_completion" || len(c.Choices) != 4 || c.Choices[2].Text != "BOnce upon a time" || *c.Choices[3].FinishReason != "stop" {
		t.Fatalf("%s", r.body)
	}
	// Each prompt is counted once; every completion's tokens count.
	if c.Usage.PromptTokens != 50 || c.Usage.CompletionTokens != 16 || c.Usage.TotalTokens != 66 {
		t.Fatalf("usage %+v", c.Usage)
	}
	reqs := fb.requests()
	if len(reqs) != 4 || reqs[0].Messages != nil || reqs[0].MaxTokens != 4 || len(reqs[0].Stop) != 1 {
		t.Fatalf("engine requests %+v", reqs[0])
	}
	prompts := map[string]int{}
	for _, q := range reqs {
		prompts[q.Prompt]++
	}
	if prompts["A"] != 2 || prompts["B"] != 2 {
		t.Fatalf("prompts %v", prompts)
	}
	r = e.do(http.MethodPost, "/v1/completions", `{"model":"aria-2b-1bit","prompt":"A","stream":true,"stream_options":{"include_usage":true}}`)
	evs := parseSSE(t, r.body)
	var text strings.Builder
	for _, ev := range evs[:len(evs)-2] {
		var ch Completion
		json.Unmarshal([]byte(ev.raw), &ch)
		text.WriteString(ch.Choices[0].Text)
	}
	if text.String() != "Once upon a time" || evs[len(evs)-1].raw != "[DONE]" || !strings.Contains(evs[len(evs)-2].raw, `"total_tokens":29`) {
		t.Fatalf("stream %s", r.body)
	}
	for _, c := range []struct{ body, field string }{
		{`{"model":"aria-2b-1bit","prompt":"a","suffix":"b"}`, "suffix"},
		{`{"model":"aria-2b-1bit","prompt":[[1,2]]}`, "prompt"},
		{`{"model":"aria-2b-1bit","prompt":""}`, "prompt[0]"},
		{`{"model":"aria-2b-1bit","prompt":"a","logprobs":21}`, "logprobs"},
		{`{"model":"aria-2b-1bit","prompt":"a","logprobs":1,"echo":true}`, "logprobs"},
		{`{"model":"aria-2b-1bit","prompt":"a","temperature":3}`, "temperature"},
		{`{"model":"aria-2b-1bit","prompt":["a","b","c"],"n":6}`, "prompt"},
	} {
		r := e.do(http.MethodPost, "/v1/completions", c.body)
		if r.status != 400 || !strings.Contains(string(r.body), "'"+c.field+"'") {
			t.Errorf("%s: %d %s", c.body, r.status, r.body)
		}
	}
}
