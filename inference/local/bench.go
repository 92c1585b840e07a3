package local

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/inference/llamacpp"
)

// KernelBench measures llama.cpp directly, with nothing of the engine in the way: one
// prompt decoded as a single batch (prompt processing), then a bare decode loop of
// llama_decode plus a greedy argmax. It is the reference the engine is compared with.
type KernelBench struct {
	PromptTokens  int
	PromptTokS    float64
	DecodeTokens  int
	DecodeTokS    float64
	PromptElapsed time.Duration
	DecodeElapsed time.Duration
	// Decode timings of the timed decode loop: time in llama_decode and between decodes.
	Stats llamacpp.DecodeStats
	// MedianStepTokS is 1 / the median time of one decode step: unlike DecodeTokS (the
	// mean) it does not move when another process takes the cores for a moment.
	MedianStepTokS float64
}

// BenchKernel loads path on its own (the mapping shares the page cache with any other
// load of the file) and runs the bare loops with threads CPU threads.
func BenchKernel(ctx context.Context, path string, threads, nPrompt, nDecode int) (KernelBench, error) {
	runtime.LockOSThread() // as the engine's runner does
	defer runtime.UnlockOSThread()
	m, err := llamacpp.LoadModel(path, llamacpp.ModelParams{UseMmap: true})
	if err != nil {
		return KernelBench{}, err
	}
	defer m.Close()
	nCtx := nPrompt + nDecode + 32
	c, err := llamacpp.NewContext(m, llamacpp.ContextParams{NCtx: nCtx, NBatch: max(nPrompt, 1), NSeqMax: 1, Threads: threads})
	if err != nil {
		return KernelBench{}, err
	}
	defer c.Close()
	b, err := llamacpp.NewBatch(max(nPrompt, 1))
	if err != nil {
		return KernelBench{}, err
	}
	defer b.Close()
	prompt := BenchPrompt(m.NVocab(), nPrompt)

	var res KernelBench
	// Warm-up: fault in the mapped weights and size compute buffers before timing.
	b.Clear()
	for i, tok := range prompt {
		b.Add(tok, i, 0, i == len(prompt)-1)
	}
	if err := c.Decode(b); err != nil {
		return res, fmt.Errorf("warm-up decode: %w", err)
	}
	c.ClearAll()
	b.Clear()
	for i, tok := range prompt {
		b.Add(tok, i, 0, i == len(prompt)-1)
	}
	start := time.Now()
	if err := c.Decode(b); err != nil {
		return res, fmt.Errorf("prompt decode: %w", err)
	}
	res.PromptElapsed = time.Since(start)
	res.PromptTokens = nPrompt
	res.PromptTokS = float64(nPrompt) / res.PromptElapsed.Seconds()

	// Decode from a short context, as llama-bench's tg test does and as a chat turn
	// starts: attention cost grows with position, so the engine comparison uses the
	// same short start.
	c.ClearAll()
	b.Clear()
	short := prompt[:min(len(prompt), BenchShortPrompt)]
	for i, tok := range short {
		b.Add(tok, i, 0, i == len(short)-1)
	}
	if err := c.Decode(b); err != nil {
		return res, fmt.Errorf("decode: %w", err)
	}
	tok := argmax(c.Logits(len(short) - 1))
	// Warm-up steps before timing.
	const warm = 4
	var s0 llamacpp.DecodeStats
	stamps := make([]time.Time, 0, nDecode+1)
	for i := range warm + nDecode {
		if i == warm {
			start = time.Now()
			s0 = c.Stats()
			stamps = append(stamps, start)
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		b.Clear()
		b.Add(tok, len(short)+i, 0, true)
		if err := c.Decode(b); err != nil {
			return res, fmt.Errorf("decode: %w", err)
		}
		tok = argmax(c.Logits(0))
		if i >= warm {
			stamps = append(stamps, time.Now())
		}
	}
	res.DecodeElapsed = time.Since(start)
	res.MedianStepTokS = RateOfMedianInterval(stamps)
	res.Stats = c.Stats().Sub(s0)
	res.DecodeTokens = nDecode
	res.DecodeTokS = float64(nDecode) / res.DecodeElapsed.Seconds()
	return res, nil
}

// BenchShortPrompt is the context length decode speed is measured from, on the kernel
// and through the engine (whose bench prompts are about this long).
const BenchShortPrompt = 12

// BenchPrompt is a deterministic prompt of n ordinary token ids.
func BenchPrompt(nVocab, n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(300 + (i*7919)%(nVocab/2))
	}
	return out
}

// EngineBench is the engine's full path (sampling, stop handling, streaming callbacks,
// batching) measured at one parallelism level.
type EngineBench struct {
	Parallel      int
	Requests      int
	Tokens        int           // completion tokens across requests
	Elapsed       time.Duration // first token of any request to last token of all
	AggregateTokS float64
	PerStreamTokS float64 // median over requests of (tokens-1)/decode time
	MedianTTFT    time.Duration
	// Median over requests of 1 / the median interval between tokens (see
	// RateOfMedianInterval).
	PerStreamMedianTokS float64
	// With one request on an engine that reports them: the decode timings from its
	// first token to its end (the decodes of tokens 2…n).
	Stats *llamacpp.DecodeStats `json:",omitempty"`
}

// decodeStatser is an engine that reports its generation context's decode timings.
type decodeStatser interface {
	DecodeStats(model string) (llamacpp.DecodeStats, error)
}

// BenchEngine runs parallel concurrent greedy generations of nDecode tokens each on
// model and reports throughput. The prompt is raw text so its length is fixed.
func BenchEngine(ctx context.Context, e inference.Engine, model string, parallel, nDecode int, sampling inference.Sampling) (EngineBench, error) {
	type one struct {
		res    inference.Result
		first  time.Time
		end    time.Time
		stamps []time.Time
		err    error
	}
	outs := make([]one, parallel)
	ds, _ := e.(decodeStatser)
	if parallel != 1 {
		ds = nil
	}
	var s0 llamacpp.DecodeStats
	var statsErr error
	var wg sync.WaitGroup
	for i := range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := sampling
			s.Seed = uint64(i + 1)
			var first time.Time
			stamps := make([]time.Time, 0, nDecode)
			res, err := e.Generate(ctx, inference.Request{
				Model:     model,
				Prompt:    fmt.Sprintf("Benchmark stream %d: the weather today in the city is", i),
				MaxTokens: nDecode,
				Sampling:  s,
			}, func(inference.Token) error {
				stamps = append(stamps, time.Now())
				if first.IsZero() {
					first = time.Now()
					if ds != nil {
						s0, statsErr = ds.DecodeStats(model)
					}
				}
				return nil
			})
			outs[i] = one{res: res, first: first, end: time.Now(), stamps: stamps, err: err}
		}()
	}
	wg.Wait()
	r := EngineBench{Parallel: parallel, Requests: parallel}
	if ds != nil && statsErr == nil {
		if s1, err := ds.DecodeStats(model); err == nil {
			d := s1.Sub(s0)
			r.Stats = &d
		}
	}
	var t0, t1 time.Time
	var per, perMedian []float64
	var ttft []time.Duration
	for _, o := range outs {
		if o.err != nil {
			return r, o.err
		}
		r.Tokens += o.res.CompletionTokens
		if t0.IsZero() || o.first.Before(t0) {
			t0 = o.first
		}
		if o.end.After(t1) {
			t1 = o.end
		}
		if o.res.CompletionTokens > 1 && o.res.Decode > 0 {
			per = append(per, float64(o.res.CompletionTokens-1)/o.res.Decode.Seconds())
		}
		if m := RateOfMedianInterval(o.stamps); m > 0 {
			perMedian = append(perMedian, m)
		}
		ttft = append(ttft, o.res.TimeToFirstToken)
	}
	r.Elapsed = t1.Sub(t0)
	// Tokens after each request's first one were produced inside [t0, t1].
	if r.Elapsed > 0 {
		r.AggregateTokS = float64(r.Tokens-parallel) / r.Elapsed.Seconds()
	}
	r.PerStreamTokS = median(per)
	r.PerStreamMedianTokS = median(perMedian)
	slices.Sort(ttft)
	if len(ttft) > 0 {
		r.MedianTTFT = ttft[len(ttft)/2]
	}
	return r, nil
}

// RateOfMedianInterval is 1 / the median interval between consecutive times (0 with
// fewer than two): a per-token rate that bursts of contention from other processes do
// not move, unlike tokens / elapsed.
func RateOfMedianInterval(ts []time.Time) float64 {
	if len(ts) < 2 {
		return 0
	}
	d := make([]float64, len(ts)-1)
	for i := range d {
		d[i] = ts[i+1].Sub(ts[i]).Seconds()
	}
	if m := median(d); m > 0 {
		return 1 / m
	}
	return 0
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := slices.Clone(x)
	slices.Sort(s)
	return s[len(s)/2]
}

// Median returns the median of x (0 for none): benchmarks repeat runs and report it.
func Median(x []float64) float64 { return median(x) }

// KernelParallelBench is the bare kernel's aggregate decode speed with nSeq sequences
// decoded together (one llama_decode holds the next token of every sequence), as the
// engine's batch does: the engine's parallel figures are compared with it.
type KernelParallelBench struct {
	Seqs          int
	Tokens        int
	Elapsed       time.Duration
	AggregateTokS float64
}

// BenchKernelParallel loads path on its own and runs a bare greedy decode of nSeq
// sequences (short distinct prompts) for nDecode steps each, with threads CPU threads.
func BenchKernelParallel(ctx context.Context, path string, threads, nSeq, nDecode int) (KernelParallelBench, error) {
	m, err := llamacpp.LoadModel(path, llamacpp.ModelParams{UseMmap: true})
	if err != nil {
		return KernelParallelBench{}, err
	}
	defer m.Close()
	prompts := make([][]int32, nSeq)
	for i := range prompts {
		p := BenchPrompt(m.NVocab(), BenchShortPrompt+nSeq)
		prompts[i] = p[i : i+BenchShortPrompt]
	}
	const warm = 4
	var start time.Time
	_, err = kernelDecode(ctx, m, threads, prompts, warm+nDecode, func(step int) {
		if step == warm {
			start = time.Now()
		}
	}, nil)
	if err != nil {
		return KernelParallelBench{}, err
	}
	elapsed := time.Since(start)
	r := KernelParallelBench{Seqs: nSeq, Tokens: nSeq * nDecode, Elapsed: elapsed}
	r.AggregateTokS = float64(r.Tokens) / elapsed.Seconds()
	return r, nil
}

// kernelDecode decodes every prompt as its own sequence in one fresh context (one KV
// stream per sequence, as the runner's), then nDecode greedy steps with the next token
// of every sequence in one batch. beforeStep (may be nil) runs before each step's
// decode; onLogits (may be nil) sees each sequence's logits at each step (step -1: the
// prompt's last position). It returns the generated tokens of each sequence.
func kernelDecode(ctx context.Context, m *llamacpp.Model, threads int, prompts [][]int32, nDecode int, beforeStep func(step int), onLogits func(seq, step int, logits []float32)) ([][]int32, error) {
	runtime.LockOSThread() // as the engine's runner does
	defer runtime.UnlockOSThread()
	n, maxLen := len(prompts), 0
	for _, p := range prompts {
		maxLen = max(maxLen, len(p))
	}
	c, err := llamacpp.NewContext(m, llamacpp.ContextParams{NCtx: n * (maxLen + nDecode + 32), NBatch: max(n*maxLen, 1), NSeqMax: n, Threads: threads})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	b, err := llamacpp.NewBatch(max(n*maxLen, 1))
	if err != nil {
		return nil, err
	}
	defer b.Close()
	idx := make([]int, n)
	for s, p := range prompts {
		for i, tok := range p {
			j := b.Add(tok, i, s, i == len(p)-1)
			if i == len(p)-1 {
				idx[s] = j
			}
		}
	}
	if err := c.Decode(b); err != nil {
		return nil, fmt.Errorf("prompt decode: %w", err)
	}
	out := make([][]int32, n)
	last := make([]int32, n)
	for s := range n {
		lg := c.Logits(idx[s])
		if onLogits != nil {
			onLogits(s, -1, lg)
		}
		last[s] = argmax(lg)
	}
	for step := range nDecode {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b.Clear()
		for s := range n {
			idx[s] = b.Add(last[s], len(prompts[s])+step, s, true)
		}
		if beforeStep != nil {
			beforeStep(step)
		}
		if err := c.Decode(b); err != nil {
			return nil, fmt.Errorf("decode: %w", err)
		}
		for s := range n {
			lg := c.Logits(idx[s])
			if onLogits != nil {
				onLogits(s, step, lg)
			}
			out[s] = append(out[s], last[s])
			last[s] = argmax(lg)
		}
	}
	return out, nil
}
