package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/inference/local"
)

// structuredSchema has structure at every few tokens (objects, enums, bounded
// integers, short strings) and no early end (an array of at least 500 items), so a constrained
// generation runs the full token budget like a free one.
const structuredSchema = `{"type":"array","items":{"type":"object","properties":{` +
	`"name":{"type":"string","maxLength":16},"age":{"type":"integer","minimum":0,"maximum":120},` +
	`"ok":{"type":"boolean"},"tags":{"type":"array","items":{"enum":["red","green","blue"]},"maxItems":3}},` +
	`"required":["name","age","ok","tags"],"additionalProperties":false},"minItems":500}`

type structuredReport struct {
	Model          string  `json:"model"`
	Threads        int     `json:"threads"`
	Reps           int     `json:"reps"`
	DecodeTokens   int     `json:"decode_tokens"`
	FreeTokS       float64 `json:"free_decode_tok_s"`
	ConstrainedTok float64 `json:"constrained_decode_tok_s"`
	Ratio          float64 `json:"constrained_to_free_ratio"`
	EmbedInputs    int     `json:"embed_inputs"`
	EmbedPerSec    float64 `json:"embeddings_per_s"`
	Sample         string  `json:"constrained_sample"`
}

// benchStructured measures decode speed of a json_schema-constrained generation
// against a free one (same sampling, alternating, median of per-repetition ratios)
// and embeddings per second for 100 short inputs.
func benchStructured(ctx context.Context, e *local.Engine, model string, threads, reps, nDecode int, asJSON bool) error {
	sampling := inference.DefaultSampling()
	sampling.Temperature, sampling.TopP, sampling.TopK, sampling.MinP, sampling.RandomSeed = 0.8, 0.95, 40, 0.05, false
	format := &inference.Format{Type: inference.FormatJSONSchema, Schema: json.RawMessage(structuredSchema)}
	run := func(f *inference.Format, seed uint64) (float64, string, error) {
		s := sampling
		s.Seed = seed
		res, err := e.Generate(ctx, inference.Request{Model: model, Prompt: "A list of people as JSON:", MaxTokens: nDecode, Sampling: s, Format: f}, nil)
		if err != nil {
			return 0, "", err
		}
		if res.CompletionTokens < 2 || res.Decode <= 0 {
			return 0, "", fmt.Errorf("generation ended after %d tokens (%s)", res.CompletionTokens, res.FinishReason)
		}
		return float64(res.CompletionTokens-1) / res.Decode.Seconds(), res.Text, nil
	}
	// Warm-up: builds the vocabulary index once, as the first constrained request does.
	if _, _, err := run(format, 0); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	rep := structuredReport{Model: model, Threads: threads, Reps: reps, DecodeTokens: nDecode, EmbedInputs: 100}
	var free, cons, ratios []float64
	for r := range reps {
		f, _, err := run(nil, uint64(r+1))
		if err != nil {
			return fmt.Errorf("free decode: %w", err)
		}
		c, text, err := run(format, uint64(r+1))
		if err != nil {
			return fmt.Errorf("constrained decode: %w", err)
		}
		free, cons, ratios = append(free, f), append(cons, c), append(ratios, c/f)
		rep.Sample = text
		fmt.Fprintf(os.Stderr, "  rep %d: free %.2f tok/s, constrained %.2f tok/s (%.3f)\n", r+1, f, c, c/f)
	}
	rep.FreeTokS, rep.ConstrainedTok, rep.Ratio = local.Median(free), local.Median(cons), local.Median(ratios)

	inputs := make([]string, rep.EmbedInputs)
	for i := range inputs {
		inputs[i] = fmt.Sprintf("short input number %d about the weather", i)
	}
	var eps []float64
	for range reps {
		start := time.Now()
		res, err := e.EmbedInputs(ctx, inference.EmbedRequest{Model: model, Texts: inputs})
		if err != nil {
			return fmt.Errorf("embeddings: %w", err)
		}
		eps = append(eps, float64(len(res.Vectors))/time.Since(start).Seconds())
	}
	rep.EmbedPerSec = local.Median(eps)
	if asJSON {
		return printJSON(rep)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "model\t%s\n", rep.Model)
	fmt.Fprintf(tw, "threads\t%d (medians of %d reps, %d tokens each)\n", rep.Threads, rep.Reps, rep.DecodeTokens)
	fmt.Fprintf(tw, "free decode\t%.2f tok/s\n", rep.FreeTokS)
	fmt.Fprintf(tw, "json_schema-constrained decode\t%.2f tok/s\n", rep.ConstrainedTok)
	fmt.Fprintf(tw, "constrained / free\t%.3f\n", rep.Ratio)
	fmt.Fprintf(tw, "embeddings, %d short inputs\t%.1f inputs/s\n", rep.EmbedInputs, rep.EmbedPerSec)
	tw.Flush()
	fmt.Fprintf(os.Stderr, "constrained sample: %.200s\n", rep.Sample)
	return nil
}
