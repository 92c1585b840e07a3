package local_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/inference/jsonschema"
	"github.com/aria-node/aria/inference/local"
)

const personSchema = `{"type":"object","properties":{"name":{"type":"string","maxLength":12},"age":{"type":"integer","minimum":0,"maximum":120},"ok":{"type":"boolean"},"tags":{"type":"array","items":{"enum":["a","b"]},"maxItems":3}},"required":["name","age","ok","tags"],"additionalProperties":false}`

func schemaFormat(schema string) *inference.Format {
	return &inference.Format{Type: inference.FormatJSONSchema, Schema: json.RawMessage(schema)}
}

func validates(t *testing.T, schema, text string) {
	t.Helper()
	s, err := jsonschema.Parse([]byte(schema))
	if err != nil {
		t.Fatal(err)
	}
	if err := jsonschema.ValidateJSON(s, []byte(text)); err != nil {
		t.Fatalf("output %q does not validate: %v", text, err)
	}
}

// With random weights only the constraint makes the output valid JSON: every
// sampled (and the greedy) generation must validate.
func TestConstrainedOutputValidates(t *testing.T) {
	e := newEngine(t, local.Options{}, tiny(t))
	for i, s := range []inference.Sampling{greedy(0), seeded(1), seeded(2), seeded(3)} {
		req := inference.Request{Model: "tiny-tq2_0", Prompt: "Describe a person:", MaxTokens: 400, Sampling: s, Format: schemaFormat(personSchema)}
		res, text := generate(t, e, req)
		if res.FinishReason != inference.FinishStop {
			t.Fatalf("run %d: finish %q after %d tokens: %q", i, res.FinishReason, res.CompletionTokens, text)
		}
		validates(t, personSchema, text)
	}
}

func seeded(seed uint64) inference.Sampling {
	s := inference.DefaultSampling()
	s.RandomSeed, s.Seed = false, seed
	return s
}

// A cut on max_tokens inside the value is finish reason length, never stop.
func TestConstrainedCutIsLength(t *testing.T) {
	e := newEngine(t, local.Options{}, tiny(t))
	req := inference.Request{Model: "tiny-tq2_0", Prompt: "x", MaxTokens: 3, Sampling: greedy(0), Format: schemaFormat(personSchema)}
	res, text := generate(t, e, req)
	if res.FinishReason != inference.FinishLength {
		t.Fatalf("finish %q for %q", res.FinishReason, text)
	}
	if json.Valid([]byte(text)) {
		t.Fatalf("3 tokens made complete JSON %q; the test needs a longer schema", text)
	}
}

// Constrained and free sequences share a batch; the free ones are byte-identical to
// running alone, and the constrained ones still validate.
func TestConstrainedAndFreeShareBatch(t *testing.T) {
	e := newEngine(t, local.Options{Slots: 4}, tiny(t))
	free := func(i int) inference.Request {
		return inference.Request{Model: "tiny-tq2_0", Prompt: []string{"Once upon", "The node", "In a galaxy"}[i], MaxTokens: 40, Sampling: greedy(0)}
	}
	alone := make([]string, 3)
	for i := range alone {
		_, alone[i] = generate(t, e, free(i))
	}
	var wg sync.WaitGroup
	got := make([]string, 3)
	var constrained string
	var cres inference.Result
	var cerr error
	wg.Add(4)
	go func() {
		defer wg.Done()
		var sb strings.Builder
		cres, cerr = e.Generate(context.Background(), inference.Request{Model: "tiny-tq2_0", Prompt: "JSON:", MaxTokens: 400,
			Sampling: seeded(5), Format: schemaFormat(personSchema)}, func(tk inference.Token) error { sb.WriteString(tk.Text); return nil })
		constrained = sb.String()
	}()
	for i := range 3 {
		go func() {
			defer wg.Done()
			res, err := e.Generate(context.Background(), free(i), nil)
			if err == nil {
				got[i] = res.Text
			}
		}()
	}
	wg.Wait()
	if cerr != nil {
		t.Fatal(cerr)
	}
	for i := range got {
		if got[i] != alone[i] {
			t.Errorf("free sequence %d differs when batched with a constrained one:\n%q\n%q", i, got[i], alone[i])
		}
	}
	if cres.FinishReason != inference.FinishStop {
		t.Fatalf("constrained finish %q: %q", cres.FinishReason, constrained)
	}
	validates(t, personSchema, constrained)
}

func TestToolCallFormat(t *testing.T) {
	e := newEngine(t, local.Options{}, tiny(t))
	f := &inference.Format{Type: inference.FormatToolCalls, Required: true, Tools: []inference.ToolSpec{
		{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string","maxLength":10},"unit":{"enum":["c","f"]}},"required":["city","unit"],"additionalProperties":false}`)},
		{Name: "noop"},
	}}
	res, text := generate(t, e, inference.Request{Model: "tiny-tq2_0", Prompt: "call", MaxTokens: 300, Sampling: greedy(0), Format: f})
	if res.FinishReason != inference.FinishStop || !strings.HasPrefix(text, inference.ToolCallOpen) || !strings.HasSuffix(text, inference.ToolCallClose) {
		t.Fatalf("finish %q, text %q", res.FinishReason, text)
	}
	body := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(text, inference.ToolCallOpen), inference.ToolCallClose))
	var call struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	}
	if err := json.Unmarshal([]byte(body), &call); err != nil {
		t.Fatalf("call %q: %v", body, err)
	}
	if call.Name != "get_weather" && call.Name != "noop" {
		t.Fatalf("called %q", call.Name)
	}
}

// Lazy tool calls (tool_choice auto): a free answer is not constrained at all, so it
// equals the unconstrained generation.
func TestLazyToolFormatLeavesTextAlone(t *testing.T) {
	e := newEngine(t, local.Options{}, tiny(t))
	req := inference.Request{Model: "tiny-tq2_0", Prompt: "Hello", MaxTokens: 30, Sampling: greedy(0)}
	_, free := generate(t, e, req)
	if strings.HasPrefix(free, "<") {
		t.Skip("the free answer starts like a tool call")
	}
	req.Format = &inference.Format{Type: inference.FormatToolCalls, Tools: []inference.ToolSpec{{Name: "f"}}}
	_, lazy := generate(t, e, req)
	if lazy != free {
		t.Fatalf("lazy tool format changed a text answer:\n%q\n%q", lazy, free)
	}
}

func TestLogprobs(t *testing.T) {
	e := newEngine(t, local.Options{}, tiny(t))
	var toks []inference.Token
	res, err := e.Generate(context.Background(), inference.Request{Model: "tiny-tq2_0", Prompt: "Hello", MaxTokens: 8, Sampling: greedy(0),
		Logprobs: true, TopLogprobs: 5}, func(tk inference.Token) error { toks = append(toks, tk); return nil })
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, tk := range toks {
		lp := tk.Logprob
		if lp == nil || lp.Logprob > 0 || len(lp.Top) != 5 {
			t.Fatalf("token %+v", tk)
		}
		// Greedy: the chosen token is the most likely one.
		if lp.Top[0].ID != tk.ID || lp.Top[0].Logprob != lp.Logprob {
			t.Fatalf("greedy token %d is not the top alternative %+v", tk.ID, lp.Top[0])
		}
		var mass float64
		for i, a := range lp.Top {
			if i > 0 && a.Logprob > lp.Top[i-1].Logprob {
				t.Fatal("top_logprobs not sorted")
			}
			mass += math.Exp(float64(a.Logprob))
		}
		if mass > 1.0001 {
			t.Fatalf("top probabilities sum to %v", mass)
		}
		sb.Write(tk.Bytes)
	}
	if sb.String() != res.Text {
		t.Fatalf("token bytes %q != text %q", sb.String(), res.Text)
	}
	// Constrained: alternatives the grammar forbids never appear.
	toks = nil
	_, err = e.Generate(context.Background(), inference.Request{Model: "tiny-tq2_0", Prompt: "x", MaxTokens: 5, Sampling: greedy(0),
		Logprobs: true, TopLogprobs: 20, Format: schemaFormat(`{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}`)},
		func(tk inference.Token) error { toks = append(toks, tk); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) == 0 || string(toks[0].Bytes) != "{" && !strings.HasPrefix(`{"n":`, string(toks[0].Bytes)) {
		t.Fatalf("first constrained token %q", toks[0].Bytes)
	}
	for _, a := range toks[0].Logprob.Top {
		if !strings.HasPrefix(`{"n":`, string(a.Bytes)) {
			t.Fatalf("a forbidden alternative %q has logprob %v", a.Bytes, a.Logprob)
		}
	}
}

func TestBadFormatIsInvalidRequest(t *testing.T) {
	e := newEngine(t, local.Options{}, tiny(t))
	_, err := e.Generate(context.Background(), inference.Request{Model: "tiny-tq2_0", Prompt: "x", MaxTokens: 5, Sampling: greedy(0),
		Format: schemaFormat(`{"type":"object","properties":{"a":{"not":{}}}}`)}, nil)
	if !errors.Is(err, inference.ErrInvalidRequest) || !strings.Contains(err.Error(), "#/properties/a/not") {
		t.Fatalf("err = %v", err)
	}
	if st := e.Stats(); st.ActiveSlots != 0 {
		t.Fatalf("a slot leaked: %+v", st)
	}
}
