package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/inference/llamacpp"
	"github.com/aria-node/aria/node"
)

type benchReport struct {
	Model         string                  `json:"model"`
	Threads       int                     `json:"threads"`
	Reps          int                     `json:"reps"`
	PromptTokens  int                     `json:"prompt_tokens"`
	DecodeTokens  int                     `json:"decode_tokens"`
	KernelPPTokS  float64                 `json:"kernel_prompt_tok_s"`
	KernelTGTokS  float64                 `json:"kernel_decode_tok_s"`
	EngineTGTokS  float64                 `json:"engine_decode_tok_s"`
	EngineRatio   float64                 `json:"engine_to_kernel_ratio"`
	SampledTGTokS float64                 `json:"engine_sampled_decode_tok_s"`
	SampledRatio  float64                 `json:"engine_sampled_to_kernel_ratio"`
	Parallel      []inference.EngineBench `json:"parallel"`
	ParallelRatio float64                 `json:"parallel_max_to_1_ratio,omitempty"`
	SystemInfo    string                  `json:"system_info"`
}

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure prompt and decode speed on the kernel and through the engine",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Value: node.DefaultModel, Usage: "GGUF path, model name in the data dir, or synthetic shape"},
			threadsFlag(),
			&cli.StringFlag{Name: "parallel", Value: "1,2,4", Usage: "comma-separated concurrency levels for aggregate decode throughput"},
			&cli.IntFlag{Name: "prompt-tokens", Value: 128, Usage: "prompt length for the prompt-processing figure"},
			&cli.IntFlag{Name: "decode-tokens", Value: 64, Usage: "tokens generated per measurement"},
			&cli.IntFlag{Name: "reps", Value: 3, Usage: "repetitions; medians are reported"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			dataDirFlag(),
		},
		Action: func(c *cli.Context) error {
			var levels []int
			for _, f := range strings.Split(c.String("parallel"), ",") {
				n, err := strconv.Atoi(strings.TrimSpace(f))
				if err != nil || n < 1 {
					return usageError("--parallel %q: want positive integers like 1,2,4", c.String("parallel"))
				}
				levels = append(levels, n)
			}
			threads := c.Int("threads")
			if threads <= 0 {
				threads = runtime.NumCPU()
			}
			nPrompt, nDecode, reps := c.Int("prompt-tokens"), c.Int("decode-tokens"), max(1, c.Int("reps"))
			if nPrompt < 1 || nDecode < 2 {
				return usageError("--prompt-tokens must be >= 1 and --decode-tokens >= 2")
			}
			path, err := node.ResolveModel(c.Context, c.String("data-dir"), c.String("model"), os.Stderr)
			if err != nil {
				return err
			}
			e := inference.NewLocal(inference.Options{Threads: threads, Slots: slices.Max(levels), QueueSize: slices.Max(levels)})
			defer e.Close()
			info, err := e.Load(c.Context, path, inference.LoadOptions{})
			if err != nil {
				return err
			}
			rep := benchReport{Model: path, Threads: threads, Reps: reps, PromptTokens: nPrompt, DecodeTokens: nDecode, SystemInfo: llamacpp.SystemInfo()}
			greedy := inference.DefaultSampling()
			greedy.Temperature, greedy.RandomSeed = 0, false
			sampled := inference.DefaultSampling()
			sampled.Temperature, sampled.TopP, sampled.TopK, sampled.MinP, sampled.RandomSeed = 0.8, 0.95, 40, 0.05, false

			fmt.Fprintf(os.Stderr, "bench %s: %d threads, %d reps, prompt %d, decode %d tokens\n", info.ID, threads, reps, nPrompt, nDecode)
			// Kernel and engine runs alternate so drift in machine load hits both alike.
			var pp, tg, eg, es []float64
			for r := range reps {
				k, err := inference.BenchKernel(c.Context, path, threads, nPrompt, nDecode)
				if err != nil {
					return fmt.Errorf("kernel bench: %w", err)
				}
				pp, tg = append(pp, k.PromptTokS), append(tg, k.DecodeTokS)
				g, err := inference.BenchEngine(c.Context, e, info.ID, 1, nDecode+1, greedy)
				if err != nil {
					return fmt.Errorf("engine bench: %w", err)
				}
				eg = append(eg, g.PerStreamTokS)
				s, err := inference.BenchEngine(c.Context, e, info.ID, 1, nDecode+1, sampled)
				if err != nil {
					return fmt.Errorf("engine bench: %w", err)
				}
				es = append(es, s.PerStreamTokS)
				fmt.Fprintf(os.Stderr, "  rep %d: kernel pp %.1f tg %.2f | engine greedy %.2f sampled %.2f tok/s\n", r+1, k.PromptTokS, k.DecodeTokS, g.PerStreamTokS, s.PerStreamTokS)
			}
			rep.KernelPPTokS, rep.KernelTGTokS = inference.Median(pp), inference.Median(tg)
			rep.EngineTGTokS, rep.SampledTGTokS = inference.Median(eg), inference.Median(es)
			rep.EngineRatio = rep.EngineTGTokS / rep.KernelTGTokS
			rep.SampledRatio = rep.SampledTGTokS / rep.KernelTGTokS
			for _, p := range levels {
				var runs []inference.EngineBench
				for range reps {
					b, err := inference.BenchEngine(c.Context, e, info.ID, p, nDecode, greedy)
					if err != nil {
						return fmt.Errorf("parallel %d: %w", p, err)
					}
					runs = append(runs, b)
				}
				slices.SortFunc(runs, func(a, b inference.EngineBench) int {
					switch {
					case a.AggregateTokS < b.AggregateTokS:
						return -1
					case a.AggregateTokS > b.AggregateTokS:
						return 1
					}
					return 0
				})
				rep.Parallel = append(rep.Parallel, runs[len(runs)/2])
				fmt.Fprintf(os.Stderr, "  parallel %d: %.2f tok/s aggregate\n", p, runs[len(runs)/2].AggregateTokS)
			}
			if len(rep.Parallel) > 1 && rep.Parallel[0].Parallel == 1 {
				rep.ParallelRatio = rep.Parallel[len(rep.Parallel)-1].AggregateTokS / rep.Parallel[0].AggregateTokS
			}
			if c.Bool("json") {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			printBench(rep)
			return nil
		},
	}
}

func printBench(r benchReport) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "model\t%s\n", r.Model)
	fmt.Fprintf(tw, "threads\t%d (medians of %d reps)\n", r.Threads, r.Reps)
	fmt.Fprintf(tw, "kernel prompt processing\t%.1f tok/s (%d-token batch)\n", r.KernelPPTokS, r.PromptTokens)
	fmt.Fprintf(tw, "kernel decode (bare loop)\t%.2f tok/s\n", r.KernelTGTokS)
	fmt.Fprintf(tw, "engine decode, greedy\t%.2f tok/s  (ratio to kernel %.3f)\n", r.EngineTGTokS, r.EngineRatio)
	fmt.Fprintf(tw, "engine decode, sampled\t%.2f tok/s  (ratio to kernel %.3f; T=0.8 top-k 40 top-p 0.95 min-p 0.05)\n", r.SampledTGTokS, r.SampledRatio)
	for _, p := range r.Parallel {
		fmt.Fprintf(tw, "engine aggregate, %d parallel\t%.2f tok/s  (per stream %.2f, median TTFT %s)\n", p.Parallel, p.AggregateTokS, p.PerStreamTokS, p.MedianTTFT.Round(100_000))
	}
	if r.ParallelRatio > 0 {
		fmt.Fprintf(tw, "aggregate %d-parallel / 1-parallel\t%.2f\n", r.Parallel[len(r.Parallel)-1].Parallel, r.ParallelRatio)
	}
	tw.Flush()
}
