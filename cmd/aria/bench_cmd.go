package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/aria-node/aria/consent"
	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/inference/llamacpp"
	"github.com/aria-node/aria/inference/local"
	"github.com/aria-node/aria/node"
	"github.com/aria-node/aria/openai"
)

type benchReport struct {
	Model         string              `json:"model"`
	Threads       int                 `json:"threads"`
	Reps          int                 `json:"reps"`
	PromptTokens  int                 `json:"prompt_tokens"`
	DecodeTokens  int                 `json:"decode_tokens"`
	KernelPPTokS  float64             `json:"kernel_prompt_tok_s"`
	KernelTGTokS  float64             `json:"kernel_decode_tok_s"`
	EngineTGTokS  float64             `json:"engine_decode_tok_s"`
	EngineRatio   float64             `json:"engine_to_kernel_ratio"`
	SampledTGTokS float64             `json:"engine_sampled_decode_tok_s"`
	SampledRatio  float64             `json:"engine_sampled_to_kernel_ratio"`
	Parallel      []local.EngineBench `json:"parallel"`
	ParallelRatio float64             `json:"parallel_max_to_1_ratio,omitempty"`
	// The bare kernel with the same numbers of sequences in one batch (with --kernel).
	KernelParallel      []local.KernelParallelBench `json:"kernel_parallel,omitempty"`
	KernelParallelRatio float64                     `json:"kernel_parallel_max_to_1_ratio,omitempty"`
	SystemInfo          string                      `json:"system_info"`
	HTTP                *httpReport                 `json:"http,omitempty"`
	Contract            *contractReport             `json:"contract,omitempty"`
	Contend             *contendReport              `json:"contend,omitempty"`

	// Decode from the median token interval (robust to bursts of contention).
	KernelTGMedianTokS float64 `json:"kernel_decode_median_step_tok_s"`
	EngineMedianTokS   float64 `json:"engine_decode_median_step_tok_s"`
	EngineMedianRatio  float64 `json:"engine_to_kernel_median_step_ratio"`
}

// contractReport: the owner's decode on an engine under the default contract (25% for
// others) against one at --cpu 100, paired per repetition, and remote-only decode.
type contractReport struct {
	RemoteThreads     int     `json:"remote_threads"`
	RemoteDuty        float64 `json:"remote_duty_cycle"`
	OwnerDefaultTokS  float64 `json:"owner_default_contract_tok_s"`
	OwnerCPU100TokS   float64 `json:"owner_cpu100_tok_s"`
	OwnerRatio        float64 `json:"owner_default_to_cpu100_ratio"`
	RemoteDefaultTokS float64 `json:"remote_default_contract_tok_s"`
}

// contendReport: decode with N competing busy processes against idle, paired per rep.
type contendReport struct {
	Processes     int     `json:"processes"`
	IdleTokS      float64 `json:"idle_tok_s"`
	ContendedTokS float64 `json:"contended_tok_s"`
	Ratio         float64 `json:"contended_to_idle_ratio"`
}

// remoteWork marks every request as work for others (it runs under the remote share).
type remoteWork struct{ inference.Engine }

func (r remoteWork) Generate(ctx context.Context, req inference.Request, onToken func(inference.Token) error) (inference.Result, error) {
	req.Remote = true
	return r.Engine.Generate(ctx, req, onToken)
}

type httpReport struct {
	DirectTokS   float64                `json:"direct_decode_tok_s"`
	HTTPTokS     float64                `json:"http_decode_tok_s"`
	HTTPToKernel float64                `json:"http_to_kernel_ratio"`
	HTTPToDirect float64                `json:"http_to_direct_ratio"`
	DirectTTFTms float64                `json:"direct_ttft_ms"`
	HTTPTTFTms   float64                `json:"http_ttft_ms"`
	AddedTTFTms  float64                `json:"added_ttft_ms"`
	Parallel     []openai.ParallelBench `json:"parallel"`

	// From the median token interval of each path (robust to bursts of contention).
	KernelMedianTokS   float64 `json:"kernel_median_step_tok_s"`
	DirectMedianTokS   float64 `json:"direct_median_step_tok_s"`
	HTTPMedianTokS     float64 `json:"http_median_chunk_tok_s"`
	HTTPToKernelMedian float64 `json:"http_to_kernel_median_step_ratio"`
	HTTPToDirectMedian float64 `json:"http_to_direct_median_step_ratio"`
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
			&cli.BoolFlag{Name: "via-http", Usage: "also measure streamed decoding through the OpenAI HTTP server on loopback"},
			&cli.StringFlag{Name: "http-parallel", Value: "1,2,4,8", Usage: "concurrent HTTP streams for --via-http"},
			&cli.BoolFlag{Name: "kernel", Value: true, Usage: "measure the bare kernel and the engine against it (--kernel=false: only the sections asked for)"},
			&cli.BoolFlag{Name: "contract", Usage: "also measure the owner's decode under the default consent contract against --cpu 100 (paired), and remote-only decode"},
			&cli.IntFlag{Name: "contend", Usage: "also measure decode with N competing busy processes against idle (paired)"},
			&cli.BoolFlag{Name: "structured", Usage: "measure json_schema-constrained vs free decode and embeddings per second instead"},
			dataDirFlag(),
		},
		Action: func(c *cli.Context) error {
			levels, err := parseLevels("parallel", c.String("parallel"))
			if err != nil {
				return err
			}
			httpLevels, err := parseLevels("http-parallel", c.String("http-parallel"))
			if err != nil {
				return err
			}
			slots := slices.Max(levels)
			if c.Bool("via-http") {
				slots = max(slots, slices.Max(httpLevels))
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
			// Small per-slot windows: the bench needs prompt+decode tokens, and many slots
			// of a 2b model's full context would only cost memory.
			e := local.New(local.Options{Threads: threads, Slots: slots, QueueSize: slots, SlotContext: nPrompt + nDecode + 256})
			defer e.Close()
			info, err := e.Load(c.Context, path, local.LoadOptions{})
			if err != nil {
				return err
			}
			rep := benchReport{Model: path, Threads: threads, Reps: reps, PromptTokens: nPrompt, DecodeTokens: nDecode, SystemInfo: llamacpp.SystemInfo()}
			greedy := inference.DefaultSampling()
			greedy.Temperature, greedy.RandomSeed = 0, false
			sampled := inference.DefaultSampling()
			sampled.Temperature, sampled.TopP, sampled.TopK, sampled.MinP, sampled.RandomSeed = 0.8, 0.95, 40, 0.05, false

			if c.Bool("structured") {
				fmt.Fprintf(os.Stderr, "bench --structured %s: %d threads, %d reps, decode %d tokens\n", info.ID, threads, reps, nDecode)
				return benchStructured(c.Context, e, info.ID, threads, reps, nDecode, c.Bool("json"))
			}
			fmt.Fprintf(os.Stderr, "bench %s: %d threads, %d reps, prompt %d, decode %d tokens, ternary kernel: %s\n", info.ID, threads, reps, nPrompt, nDecode, llamacpp.TernaryKernel())
			// Kernel and engine runs alternate so drift in machine load hits both alike.
			// Ratios are taken per repetition (kernel and engine measured back to back) and
			// their medians reported: on a shared machine speed drifts between runs.
			var pp, tg, eg, es, rg, rs, tgm, egm, rgm []float64
			for r := range reps {
				if !c.Bool("kernel") {
					break
				}
				k, err := local.BenchKernel(c.Context, path, threads, nPrompt, nDecode)
				if err != nil {
					return fmt.Errorf("kernel bench: %w", err)
				}
				pp, tg = append(pp, k.PromptTokS), append(tg, k.DecodeTokS)
				g, err := local.BenchEngine(c.Context, e, info.ID, 1, nDecode+1, greedy)
				if err != nil {
					return fmt.Errorf("engine bench: %w", err)
				}
				eg = append(eg, g.PerStreamTokS)
				s, err := local.BenchEngine(c.Context, e, info.ID, 1, nDecode+1, sampled)
				if err != nil {
					return fmt.Errorf("engine bench: %w", err)
				}
				es = append(es, s.PerStreamTokS)
				rg, rs = append(rg, g.PerStreamTokS/k.DecodeTokS), append(rs, s.PerStreamTokS/k.DecodeTokS)
				tgm, egm, rgm = append(tgm, k.MedianStepTokS), append(egm, g.PerStreamMedianTokS), append(rgm, g.PerStreamMedianTokS/k.MedianStepTokS)
				fmt.Fprintf(os.Stderr, "  rep %d: kernel pp %.1f tg %.2f | engine greedy %.2f sampled %.2f tok/s\n", r+1, k.PromptTokS, k.DecodeTokS, g.PerStreamTokS, s.PerStreamTokS)
				fmt.Fprintf(os.Stderr, "    median step: kernel %.2f | engine greedy %.2f tok/s; per token: kernel %s | engine greedy %s\n", k.MedianStepTokS, g.PerStreamMedianTokS, perToken(&k.Stats), perToken(g.Stats))
			}
			rep.KernelPPTokS, rep.KernelTGTokS = local.Median(pp), local.Median(tg)
			rep.EngineTGTokS, rep.SampledTGTokS = local.Median(eg), local.Median(es)
			rep.EngineRatio, rep.SampledRatio = local.Median(rg), local.Median(rs)
			rep.KernelTGMedianTokS, rep.EngineMedianTokS, rep.EngineMedianRatio = local.Median(tgm), local.Median(egm), local.Median(rgm)
			for _, p := range levels {
				var runs []local.EngineBench
				var kruns []local.KernelParallelBench
				for range reps {
					b, err := local.BenchEngine(c.Context, e, info.ID, p, nDecode, greedy)
					if err != nil {
						return fmt.Errorf("parallel %d: %w", p, err)
					}
					runs = append(runs, b)
					if c.Bool("kernel") {
						k, err := local.BenchKernelParallel(c.Context, path, threads, p, nDecode)
						if err != nil {
							return fmt.Errorf("kernel parallel %d: %w", p, err)
						}
						kruns = append(kruns, k)
					}
				}
				slices.SortFunc(runs, func(a, b local.EngineBench) int { return cmp.Compare(a.AggregateTokS, b.AggregateTokS) })
				rep.Parallel = append(rep.Parallel, runs[len(runs)/2])
				fmt.Fprintf(os.Stderr, "  parallel %d: %.2f tok/s aggregate\n", p, runs[len(runs)/2].AggregateTokS)
				if len(kruns) > 0 {
					slices.SortFunc(kruns, func(a, b local.KernelParallelBench) int { return cmp.Compare(a.AggregateTokS, b.AggregateTokS) })
					rep.KernelParallel = append(rep.KernelParallel, kruns[len(kruns)/2])
					fmt.Fprintf(os.Stderr, "  kernel parallel %d: %.2f tok/s aggregate\n", p, kruns[len(kruns)/2].AggregateTokS)
				}
			}
			if len(rep.Parallel) > 1 && rep.Parallel[0].Parallel == 1 {
				rep.ParallelRatio = rep.Parallel[len(rep.Parallel)-1].AggregateTokS / rep.Parallel[0].AggregateTokS
			}
			if k := rep.KernelParallel; len(k) > 1 && k[0].Seqs == 1 {
				rep.KernelParallelRatio = k[len(k)-1].AggregateTokS / k[0].AggregateTokS
			}
			if c.Bool("via-http") {
				kernel := func() (local.KernelBench, error) {
					return local.BenchKernel(c.Context, path, threads, local.BenchShortPrompt, nDecode)
				}
				h, err := benchHTTP(c.Context, e, info.ID, reps, nDecode, httpLevels, kernel)
				if err != nil {
					return fmt.Errorf("http bench: %w", err)
				}
				rep.HTTP = h
			}
			if c.Bool("contract") {
				if rep.Contract, err = benchContract(c.Context, path, info.ID, threads, reps, nDecode, e, greedy); err != nil {
					return err
				}
			}
			if n := c.Int("contend"); n > 0 {
				if rep.Contend, err = benchContend(c.Context, e, info.ID, n, reps, nDecode, greedy); err != nil {
					return err
				}
			}
			if c.Bool("json") {
				return printJSON(rep)
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
	if r.KernelTGTokS > 0 { // --kernel=false skips these
		fmt.Fprintf(tw, "kernel prompt processing\t%.1f tok/s (%d-token batch)\n", r.KernelPPTokS, r.PromptTokens)
		fmt.Fprintf(tw, "kernel decode (bare loop)\t%.2f tok/s\n", r.KernelTGTokS)
		fmt.Fprintf(tw, "engine decode, greedy\t%.2f tok/s  (ratio to kernel %.3f)\n", r.EngineTGTokS, r.EngineRatio)
		if r.EngineMedianRatio > 0 {
			fmt.Fprintf(tw, "from the median token interval\tkernel %.2f, engine %.2f tok/s  (ratio %.3f)\n", r.KernelTGMedianTokS, r.EngineMedianTokS, r.EngineMedianRatio)
		}
		fmt.Fprintf(tw, "engine decode, sampled\t%.2f tok/s  (ratio to kernel %.3f; T=0.8 top-k 40 top-p 0.95 min-p 0.05)\n", r.SampledTGTokS, r.SampledRatio)
	}
	for _, p := range r.Parallel {
		fmt.Fprintf(tw, "engine aggregate, %d parallel\t%.2f tok/s  (per stream %.2f, median TTFT %s)\n", p.Parallel, p.AggregateTokS, p.PerStreamTokS, p.MedianTTFT.Round(100_000))
	}
	if r.ParallelRatio > 0 {
		fmt.Fprintf(tw, "aggregate %d-parallel / 1-parallel\t%.2f\n", r.Parallel[len(r.Parallel)-1].Parallel, r.ParallelRatio)
	}
	for _, k := range r.KernelParallel {
		fmt.Fprintf(tw, "kernel aggregate, %d sequences\t%.2f tok/s  (bare loop, one batch)\n", k.Seqs, k.AggregateTokS)
	}
	if r.KernelParallelRatio > 0 {
		fmt.Fprintf(tw, "kernel aggregate %d / 1 sequences\t%.2f\n", r.KernelParallel[len(r.KernelParallel)-1].Seqs, r.KernelParallelRatio)
	}
	if h := r.HTTP; h != nil {
		fmt.Fprintf(tw, "HTTP streamed decode\t%.2f tok/s  (ratio to kernel %.3f, to direct engine %.3f)\n", h.HTTPTokS, h.HTTPToKernel, h.HTTPToDirect)
		fmt.Fprintf(tw, "HTTP, median token interval\tkernel %.2f, direct %.2f, HTTP %.2f tok/s  (HTTP to kernel %.3f, to direct engine %.3f)\n", h.KernelMedianTokS, h.DirectMedianTokS, h.HTTPMedianTokS, h.HTTPToKernelMedian, h.HTTPToDirectMedian)
		fmt.Fprintf(tw, "time to first token\tdirect %.2f ms, HTTP %.2f ms, added %.2f ms\n", h.DirectTTFTms, h.HTTPTTFTms, h.AddedTTFTms)
		for _, p := range h.Parallel {
			fmt.Fprintf(tw, "HTTP aggregate, %d streams\t%.2f tok/s  (median TTFT %s)\n", p.Streams, p.AggregateTokS, p.MedianTTFT.Round(100_000))
		}
	}
	if ct := r.Contract; ct != nil {
		fmt.Fprintf(tw, "owner decode, default contract\t%.2f tok/s  (--cpu 100: %.2f; paired ratio %.3f)\n", ct.OwnerDefaultTokS, ct.OwnerCPU100TokS, ct.OwnerRatio)
		fmt.Fprintf(tw, "remote-only decode, default contract\t%.2f tok/s  (%d thread(s), duty cycle %.2f)\n", ct.RemoteDefaultTokS, ct.RemoteThreads, ct.RemoteDuty)
	}
	if ct := r.Contend; ct != nil {
		fmt.Fprintf(tw, "decode with %d busy process(es)\t%.2f tok/s  (idle %.2f; paired ratio %.3f)\n", ct.Processes, ct.ContendedTokS, ct.IdleTokS, ct.Ratio)
	}
	tw.Flush()
}

// benchContract compares the owner's decode on an engine under the default contract
// with e (no share: --cpu 100), alternating per repetition, and measures remote work.
func benchContract(ctx context.Context, path, id string, threads, reps, nDecode int, e inference.Engine, greedy inference.Sampling) (*contractReport, error) {
	cores := runtime.NumCPU()
	share, _ := consent.Default().Threads(cores, 0)
	rt, duty := consent.Default().Threads(cores, min(share, threads))
	d := local.New(local.Options{Threads: threads, Slots: 1, QueueSize: 1, SlotContext: nDecode + 512, Remote: local.Share{Threads: rt, Duty: duty}})
	defer d.Close()
	if _, err := d.Load(ctx, path, local.LoadOptions{ID: id}); err != nil {
		return nil, err
	}
	out := &contractReport{RemoteThreads: rt, RemoteDuty: duty}
	var own, full, ratio, remote []float64
	for r := range reps {
		a, err := local.BenchEngine(ctx, d, id, 1, nDecode+1, greedy)
		if err != nil {
			return nil, err
		}
		b, err := local.BenchEngine(ctx, e, id, 1, nDecode+1, greedy)
		if err != nil {
			return nil, err
		}
		m, err := local.BenchEngine(ctx, remoteWork{d}, id, 1, nDecode+1, greedy)
		if err != nil {
			return nil, err
		}
		own, full, remote = append(own, a.PerStreamTokS), append(full, b.PerStreamTokS), append(remote, m.PerStreamTokS)
		ratio = append(ratio, a.PerStreamTokS/b.PerStreamTokS)
		fmt.Fprintf(os.Stderr, "  contract rep %d: owner %.2f (default) vs %.2f (--cpu 100), remote %.2f tok/s\n", r+1, a.PerStreamTokS, b.PerStreamTokS, m.PerStreamTokS)
	}
	out.OwnerDefaultTokS, out.OwnerCPU100TokS, out.OwnerRatio, out.RemoteDefaultTokS = local.Median(own), local.Median(full), local.Median(ratio), local.Median(remote)
	return out, nil
}

// benchContend measures decode idle and then with n busy processes (a shell spinning),
// alternating per repetition.
func benchContend(ctx context.Context, e inference.Engine, id string, n, reps, nDecode int, greedy inference.Sampling) (*contendReport, error) {
	out := &contendReport{Processes: n}
	var idle, busy, ratio []float64
	for r := range reps {
		a, err := local.BenchEngine(ctx, e, id, 1, nDecode+1, greedy)
		if err != nil {
			return nil, err
		}
		var procs []*exec.Cmd
		for range n {
			p := exec.CommandContext(ctx, "sh", "-c", "while :; do :; done")
			if err := p.Start(); err != nil {
				return nil, err
			}
			procs = append(procs, p)
		}
		time.Sleep(200 * time.Millisecond)
		b, err := local.BenchEngine(ctx, e, id, 1, nDecode+1, greedy)
		for _, p := range procs {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
		if err != nil {
			return nil, err
		}
		idle, busy, ratio = append(idle, a.PerStreamTokS), append(busy, b.PerStreamTokS), append(ratio, b.PerStreamTokS/a.PerStreamTokS)
		fmt.Fprintf(os.Stderr, "  contend rep %d: idle %.2f, with %d busy %.2f tok/s\n", r+1, a.PerStreamTokS, n, b.PerStreamTokS)
	}
	out.IdleTokS, out.ContendedTokS, out.Ratio = local.Median(idle), local.Median(busy), local.Median(ratio)
	return out, nil
}

// perToken renders decode timings per decode: time in llama_decode, time between
// decodes (the caller's own work), and the part of that spent getting the goroutine
// running again after the C call returned.
func perToken(s *llamacpp.DecodeStats) string {
	if s == nil || s.Decodes == 0 || s.Gaps == 0 {
		return "-"
	}
	ms := func(d time.Duration, n int64) float64 { return float64(d) / float64(n) / 1e6 }
	return fmt.Sprintf("decode %.2f ms, between %.3f ms (resume %.3f ms)", ms(s.Decode, s.Decodes), ms(s.Gap, s.Gaps), ms(s.Resume, s.Decodes))
}

func parseLevels(flag, v string) ([]int, error) {
	var levels []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, usageError("--%s %q: want positive integers like 1,2,4", flag, v)
		}
		levels = append(levels, n)
	}
	return levels, nil
}

// benchHTTP serves the engine through the real OpenAI server on a loopback port and
// compares streamed decoding and time to first token with direct engine calls. Both use
// the same chat prompt, repeated, so both reuse its cached prefix and the TTFT
// difference is the HTTP path's own cost.
func benchHTTP(ctx context.Context, e *local.Engine, model string, reps, nDecode int, levels []int, kernel func() (local.KernelBench, error)) (*httpReport, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := openai.NewServer(openai.Config{Backend: e, Version: node.Version, Logger: slog.New(slog.DiscardHandler)})
	go srv.Serve(ln)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	const prompt = "Tell me a story about the weather in the mountains."
	greedy := inference.DefaultSampling()
	greedy.Temperature, greedy.RandomSeed, greedy.Seed = 0, false, 1
	var stamps []time.Time
	direct := func() (inference.Result, error) {
		stamps = stamps[:0]
		return e.Generate(ctx, inference.Request{Model: model, MaxTokens: nDecode + 1, Sampling: greedy,
			Messages: []inference.Message{{Role: "user", Content: prompt}}}, func(inference.Token) error {
			stamps = append(stamps, time.Now())
			return nil
		})
	}
	if _, err := direct(); err != nil { // warm the prefix cache
		return nil, err
	}
	if _, err := openai.BenchStream(ctx, client, base, model, prompt, nDecode+1); err != nil {
		return nil, err
	}
	var dTok, hTok, dTTFT, hTTFT, toKernel, toDirect, added []float64
	var kMed, dMed, hMed, toKernelMed, toDirectMed []float64
	// Both paths reuse the cached prompt, so every decode of theirs is one token: the
	// decode timings of a whole request compare with the kernel loop's.
	var dStats, hStats llamacpp.DecodeStats
	timed := func(dst *llamacpp.DecodeStats, f func() error) error {
		s0, err := e.DecodeStats(model)
		if err != nil {
			return err
		}
		if err := f(); err != nil {
			return err
		}
		s1, err := e.DecodeStats(model)
		*dst = s1.Sub(s0)
		return err
	}
	for r := range reps {
		kb, err := kernel()
		if err != nil {
			return nil, err
		}
		k := kb.DecodeTokS
		// Alternate which path runs first, so neither always follows the kernel pass.
		var d inference.Result
		var h openai.StreamBench
		runDirect := func() (err error) { d, err = direct(); return err }
		runHTTP := func() (err error) {
			h, err = openai.BenchStream(ctx, client, base, model, prompt, nDecode+1)
			return err
		}
		if r%2 == 0 {
			err = timed(&dStats, runDirect)
			if err == nil {
				err = timed(&hStats, runHTTP)
			}
		} else {
			err = timed(&hStats, runHTTP)
			if err == nil {
				err = timed(&dStats, runDirect)
			}
		}
		if err != nil {
			return nil, err
		}
		dTok = append(dTok, float64(d.CompletionTokens-1)/d.Decode.Seconds())
		dTTFT = append(dTTFT, float64(d.TimeToFirstToken.Microseconds())/1000)
		hTok = append(hTok, h.DecodeTokS)
		hTTFT = append(hTTFT, float64(h.TTFT.Microseconds())/1000)
		toKernel, toDirect = append(toKernel, h.DecodeTokS/k), append(toDirect, h.DecodeTokS/dTok[r])
		added = append(added, hTTFT[r]-dTTFT[r])
		dm, hm := local.RateOfMedianInterval(stamps), local.RateOfMedianInterval(h.Chunks)
		kMed, dMed, hMed = append(kMed, kb.MedianStepTokS), append(dMed, dm), append(hMed, hm)
		toKernelMed, toDirectMed = append(toKernelMed, hm/kb.MedianStepTokS), append(toDirectMed, hm/dm)
		fmt.Fprintf(os.Stderr, "  http rep %d: kernel %.2f | direct %.2f tok/s ttft %.2f ms | http %.2f tok/s ttft %.2f ms\n", r+1, k, dTok[r], dTTFT[r], hTok[r], hTTFT[r])
		fmt.Fprintf(os.Stderr, "    median interval: kernel %.2f | direct %.2f | http %.2f tok/s; per token: kernel %s | direct %s | http %s\n", kb.MedianStepTokS, dm, hm, perToken(&kb.Stats), perToken(&dStats), perToken(&hStats))
	}
	rep := &httpReport{
		DirectTokS: local.Median(dTok), HTTPTokS: local.Median(hTok),
		DirectTTFTms: local.Median(dTTFT), HTTPTTFTms: local.Median(hTTFT),
	}
	rep.HTTPToKernel, rep.HTTPToDirect = local.Median(toKernel), local.Median(toDirect)
	rep.AddedTTFTms = local.Median(added)
	rep.KernelMedianTokS, rep.DirectMedianTokS, rep.HTTPMedianTokS = local.Median(kMed), local.Median(dMed), local.Median(hMed)
	rep.HTTPToKernelMedian, rep.HTTPToDirectMedian = local.Median(toKernelMed), local.Median(toDirectMed)
	for _, n := range levels {
		var runs []openai.ParallelBench
		for range reps {
			p, err := openai.BenchParallel(ctx, client, base, model, n, nDecode)
			if err != nil {
				return nil, fmt.Errorf("%d streams: %w", n, err)
			}
			runs = append(runs, p)
		}
		slices.SortFunc(runs, func(a, b openai.ParallelBench) int { return cmp.Compare(a.AggregateTokS, b.AggregateTokS) })
		rep.Parallel = append(rep.Parallel, runs[len(runs)/2])
		fmt.Fprintf(os.Stderr, "  http %d streams: %.2f tok/s aggregate\n", n, runs[len(runs)/2].AggregateTokS)
	}
	return rep, nil
}
