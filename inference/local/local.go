package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/inference/gguf"
	"github.com/aria-node/aria/inference/llamacpp"
)

// Options configures an Engine. Zero fields take the documented defaults.
type Options struct {
	Threads     int    // CPU threads per decode for the owner's requests; default: number of CPUs
	Slots       int    // parallel sequences per model; default 4
	SlotContext int    // context window per request in tokens; default min(4096, trained context)
	BatchSize   int    // max tokens per decode call (prompt chunking); default 512
	QueueSize   int    // requests that may wait for a slot before ErrBusy; default 16
	MemoryLimit uint64 // bytes a model (weights + KV cache) may use; default: MemAvailable
	// MemoryBudget bounds all loaded models together (the owner's max_ram_mb); 0 = none.
	MemoryBudget uint64
	// Remote is the CPU share for work done for others (Request.Remote, the consent
	// contract's cpu_percent). A decode step whose batch holds only remote requests runs
	// with Remote.Threads at duty cycle Remote.Duty; a step with any owner request in
	// its batch runs with Threads and no rest. Zero fields mean the owner's settings.
	Remote Share

	// FixedThreads turns off the thread governor, which drops threads while other
	// processes hold cores (llama.cpp's workers spin-wait for each other) and probes
	// them back. Default: governed.
	FixedThreads bool

	stepHook    func(threads int, duty float64, owner, remote int) // tests: see runnerConfig
	cpus        int                                                // tests: see runnerConfig
	handOffWait time.Duration                                      // tests: see runnerConfig
}

// Share is a thread count and duty cycle. Duty (0 < d <= 1; 0 means 1) keeps the
// kernel busy for only this fraction of wall time: after each decode step of duration
// t the runner rests t·(1/d − 1). It bounds CPU use below what the thread count alone
// allows (e.g. 25% of 2 cores with 1 thread is a duty cycle of 0.5).
type Share struct {
	Threads int
	Duty    float64
}

func (o Options) withDefaults() Options {
	if o.Threads <= 0 {
		o.Threads = runtime.NumCPU()
	}
	if o.Slots <= 0 {
		o.Slots = 4
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 512
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 16
	}
	if o.Remote.Threads <= 0 || o.Remote.Threads > o.Threads {
		o.Remote.Threads = o.Threads
	}
	if o.Remote.Duty <= 0 || o.Remote.Duty > 1 {
		o.Remote.Duty = 1
	}
	return o
}

// LoadOptions configures one model load.
type LoadOptions struct {
	ID string // model id served to clients; default: file name without .gguf
}

// Engine serves models resident in this process through llama.cpp.
type Engine struct {
	opts    Options
	mu      sync.RWMutex
	runners map[string]*runner
	loading map[string]uint64 // ids being loaded and the memory they reserved
	order   []string
	closed  bool
}

var _ inference.Engine = (*Engine)(nil)

// New returns an engine with no models loaded.
func New(opts Options) *Engine {
	return &Engine{opts: opts.withDefaults(), runners: map[string]*runner{}}
}

// Threads is the number of CPU threads a decode with an owner's request uses.
func (e *Engine) Threads() int { return e.opts.Threads }

// RemoteShare is the threads and duty cycle of decode steps that serve only others.
func (e *Engine) RemoteShare() Share { return e.opts.Remote }

// Load validates a GGUF file, checks it fits in memory, and loads it resident. Every
// problem is an error naming it; llama.cpp only sees files the validator accepted.
func (e *Engine) Load(ctx context.Context, path string, lo LoadOptions) (inference.ModelInfo, error) {
	if err := ctx.Err(); err != nil {
		return inference.ModelInfo{}, err
	}
	f, err := gguf.Open(path)
	if err != nil {
		return inference.ModelInfo{}, fmt.Errorf("load model: %w", err)
	}
	info, err := describeModel(path, f)
	if err != nil {
		return inference.ModelInfo{}, fmt.Errorf("load model %s: %w", path, err)
	}
	if lo.ID != "" {
		info.ID = lo.ID
	}
	slotCtx := e.opts.SlotContext
	if slotCtx <= 0 {
		slotCtx = 4096
		if info.ContextLength > 0 {
			slotCtx = min(slotCtx, info.ContextLength)
		}
	}
	slotCtx = max(slotCtx, 64)
	need, kv := memoryNeeded(f, e.opts.Slots*slotCtx)
	limit := e.opts.MemoryLimit
	if limit == 0 {
		limit = memAvailable()
	}
	if limit > 0 && need > limit {
		return inference.ModelInfo{}, fmt.Errorf("load model %s: needs about %d MiB (weights %d MiB + KV cache %d MiB for %d slots × %d tokens) but only %d MiB is available; use a smaller model, fewer slots or a shorter context",
			path, need>>20, uint64(info.FileSize)>>20, kv>>20, e.opts.Slots, slotCtx, limit>>20)
	}

	// The id and the memory are reserved under the lock, so concurrent loads of one
	// model cannot both load it, and concurrent loads cannot overshoot the budget.
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return inference.ModelInfo{}, inference.ErrClosed
	}
	_, dup := e.runners[info.ID]
	_, dupLoading := e.loading[info.ID]
	if dup || dupLoading {
		e.mu.Unlock()
		return inference.ModelInfo{}, fmt.Errorf("load model %s: a model with id %q is already loaded", path, info.ID)
	}
	if budget := e.opts.MemoryBudget; budget > 0 {
		var used uint64
		for _, r := range e.runners {
			used += r.info.MemoryBytes
		}
		for _, b := range e.loading {
			used += b
		}
		if used+need > budget {
			e.mu.Unlock()
			return inference.ModelInfo{}, fmt.Errorf("load model %s: needs about %d MiB (weights %d MiB + KV cache %d MiB) but the node's memory budget (max_ram_mb) is %d MiB with %d MiB used by loaded models; raise the budget, use a smaller model, fewer slots or a shorter context",
				path, need>>20, uint64(info.FileSize)>>20, kv>>20, budget>>20, used>>20)
		}
	}
	if e.loading == nil {
		e.loading = map[string]uint64{}
	}
	e.loading[info.ID] = need
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.loading, info.ID)
		e.mu.Unlock()
	}()
	if testHookLoading != nil {
		testHookLoading()
	}
	info.MemoryBytes = need

	start := time.Now()
	model, err := llamacpp.LoadModel(path, llamacpp.ModelParams{UseMmap: true})
	if err != nil {
		return inference.ModelInfo{}, fmt.Errorf("%w: %v", inference.ErrKernelUnavailable, err)
	}
	info.ChatTemplate = chatTemplateFor(info.Architecture, model.ChatTemplate())
	info.VocabSize = model.NVocab()
	info.Slots = e.opts.Slots
	info.SlotContext = slotCtx
	info.LoadedAt = time.Now()
	r, err := newRunner(info, model, runnerConfig{
		Slots: e.opts.Slots, SlotCtx: slotCtx, Batch: max(e.opts.BatchSize, e.opts.Slots),
		Threads: e.opts.Threads, QueueSize: e.opts.QueueSize, Remote: e.opts.Remote,
		stepHook: e.opts.stepHook, FixedThreads: e.opts.FixedThreads, cpus: e.opts.cpus, handOffWait: e.opts.handOffWait,
	})
	if err != nil {
		model.Close()
		return inference.ModelInfo{}, fmt.Errorf("%w: %v", inference.ErrKernelUnavailable, err)
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		r.close()
		return inference.ModelInfo{}, inference.ErrClosed
	}
	e.runners[info.ID] = r
	e.order = append(e.order, info.ID)
	e.mu.Unlock()
	slog.Info("model loaded", "id", info.ID, "arch", info.Architecture, "params", info.Parameters,
		"quant", strings.Join(info.QuantTypes, ","), "slots", info.Slots, "ctx_per_slot", slotCtx,
		"threads", e.opts.Threads, "kernel", llamacpp.TernaryKernel(), "took", time.Since(start).Round(time.Millisecond))
	if info.Synthetic {
		slog.Warn("serving a synthetic model: its weights are random and its output is meaningless text", "id", info.ID)
	}
	return info, nil
}

// testHookLoading, when set (tests), runs after a load reserved its id and memory.
var testHookLoading func()

// Unload stops a model and frees it; its queued and running requests fail with ErrClosed.
func (e *Engine) Unload(id string) error {
	e.mu.Lock()
	r, ok := e.runners[id]
	if ok {
		delete(e.runners, id)
		e.order = slices.DeleteFunc(e.order, func(s string) bool { return s == id })
	}
	e.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %q", inference.ErrModelNotFound, id)
	}
	r.close()
	return nil
}

// Models lists loaded models in load order.
func (e *Engine) Models() []inference.ModelInfo {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]inference.ModelInfo, 0, len(e.order))
	for _, id := range e.order {
		out = append(out, e.runners[id].info)
	}
	return out
}

// runner finds model id's runner and takes a reference on its C model, which the
// caller gives back with r.users.Done(): the model is not freed while it is in use.
func (e *Engine) runner(id string) (*runner, error) {
	e.mu.RLock()
	r, ok := e.runners[id]
	closed := e.closed
	e.mu.RUnlock()
	if closed {
		return nil, inference.ErrClosed
	}
	if !ok {
		return nil, fmt.Errorf("%w: %q", inference.ErrModelNotFound, id)
	}
	if err := r.acquire(); err != nil {
		return nil, err
	}
	if testHookModelInUse != nil {
		testHookModelInUse()
	}
	return r, nil
}

// DecodeStats are the decode timings of model id's generation context so far (see
// llamacpp.DecodeStats): benchmarks compare the runner's time between decodes with a
// bare loop's.
func (e *Engine) DecodeStats(id string) (llamacpp.DecodeStats, error) {
	r, err := e.runner(id)
	if err != nil {
		return llamacpp.DecodeStats{}, err
	}
	defer r.users.Done()
	return r.lctx.Stats(), nil
}

// testHookModelInUse, when set (tests), runs after a caller took the model.
var testHookModelInUse func()

// Tokenize implements Engine.
func (e *Engine) Tokenize(ctx context.Context, model, text string) ([]int32, error) {
	r, err := e.runner(model)
	if err != nil {
		return nil, err
	}
	defer r.users.Done()
	return r.model.Tokenize(text, false, false)
}

// Detokenize renders token ids back to text (control tokens render as nothing).
func (e *Engine) Detokenize(model string, toks []int32) (string, error) {
	r, err := e.runner(model)
	if err != nil {
		return "", err
	}
	defer r.users.Done()
	var b []byte
	for _, t := range toks {
		if t < 0 || int(t) >= r.model.NVocab() {
			return "", invalid("tokens", "token id %d is outside the vocabulary (0..%d)", t, r.model.NVocab()-1)
		}
		b = r.model.AppendPiece(b, t)
	}
	return string(b), nil
}

// Embed implements Engine.
func (e *Engine) Embed(ctx context.Context, model string, texts []string) ([][]float32, error) {
	r, err := e.runner(model)
	if err != nil {
		return nil, err
	}
	defer r.users.Done()
	return r.embed(ctx, texts)
}

// Stats implements Engine.
func (e *Engine) Stats() inference.Stats {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var s inference.Stats
	for _, r := range e.runners {
		s.ActiveSlots += int(r.active.Load())
		s.TotalSlots += r.cfg.Slots
		s.Queued += len(r.queue)
		s.QueueSize += r.cfg.QueueSize
	}
	return s
}

// Close implements Engine.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	rs := make([]*runner, 0, len(e.runners))
	for _, r := range e.runners {
		rs = append(rs, r)
	}
	e.runners = map[string]*runner{}
	e.order = nil
	e.mu.Unlock()
	for _, r := range rs {
		r.close()
	}
	return nil
}

// Prompt renders a request into the exact text the model will see.
func (e *Engine) Prompt(req inference.Request) (string, error) {
	r, err := e.runner(req.Model)
	if err != nil {
		return "", err
	}
	defer r.users.Done()
	if req.Messages != nil {
		if err := inference.ValidateMessages(req.Messages); err != nil {
			return "", err
		}
		return renderChat(r.info.ChatTemplate, req.Messages)
	}
	return req.Prompt, nil
}

// Generate implements Engine.
func (e *Engine) Generate(ctx context.Context, req inference.Request, onToken func(inference.Token) error) (inference.Result, error) {
	start := time.Now()
	r, err := e.runner(req.Model)
	if err != nil {
		return inference.Result{}, err
	}
	defer r.users.Done()
	if err := req.Validate(); err != nil {
		return inference.Result{}, err
	}
	var prompt []int32
	if req.Messages != nil {
		prompt, err = tokenizeChat(ctx, r.model, r.info.ChatTemplate, req.Messages)
		if err != nil {
			return inference.Result{}, err
		}
	} else {
		prompt, err = r.model.Tokenize(req.Prompt, r.model.AddBOS(), false)
		if err != nil {
			return inference.Result{}, err
		}
	}
	if len(prompt) == 0 {
		return inference.Result{}, &inference.InvalidError{Field: "prompt", Msg: "tokenizes to nothing"}
	}
	if len(prompt) >= r.cfg.SlotCtx {
		return inference.Result{}, fmt.Errorf("%w: the prompt has %d tokens and the context window is %d", inference.ErrContextLength, len(prompt), r.cfg.SlotCtx)
	}
	if req.TopLogprobs < 0 || req.TopLogprobs > inference.MaxTopLogprobs {
		return inference.Result{}, &inference.InvalidError{Field: "top_logprobs", Msg: fmt.Sprintf("must be between 0 and %d, got %d", inference.MaxTopLogprobs, req.TopLogprobs)}
	}
	var cons *constraint
	if req.Format != nil {
		if cons, err = newConstraint(req.Format, r.vocabIndex()); err != nil {
			return inference.Result{}, err
		}
	}
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t := &task{
		ctx: tctx, cancel: cancel, prompt: prompt, maxTokens: req.MaxTokens,
		sampler: newSampler(req.Sampling, prompt), text: newTextStream(req.Stop),
		enqueued: start, notify: make(chan struct{}, 1), taken: make(chan struct{}, 1), constraint: cons, remote: req.Remote,
		logprobs: req.Logprobs, topLogprobs: req.TopLogprobs,
	}
	if err := r.submit(t); err != nil {
		return inference.Result{}, err
	}
	var sb strings.Builder
	var firstOut time.Time
	var batch []inference.Token
	delivered := 0
	// What a generation stopped midway consumed, so callers can bill it exactly: the
	// prompt once a token came out of it, and the tokens delivered.
	partial := func() inference.Result {
		res := inference.Result{Text: sb.String(), CompletionTokens: delivered}
		if !firstOut.IsZero() {
			res.PromptTokens = len(prompt)
		}
		return res
	}
	for {
		select {
		case <-t.notify:
		case <-ctx.Done():
			return partial(), ctx.Err()
		}
		t.mu.Lock()
		batch, t.pending = t.pending, batch[:0]
		finished, reason, ferr := t.finished, t.finish, t.err
		t.mu.Unlock()
		for _, tok := range batch {
			if firstOut.IsZero() {
				firstOut = time.Now()
			}
			sb.WriteString(tok.Text)
			if onToken != nil {
				if err := onToken(tok); err != nil {
					cancel()
					return partial(), err
				}
			}
			if tok.ID != inference.FlushToken {
				delivered++
			}
		}
		select { // the runner may be waiting to decode on: see handOffWait
		case t.taken <- struct{}{}:
		default:
		}
		if !finished {
			continue
		}
		if ferr != nil {
			return inference.Result{}, ferr
		}
		res := inference.Result{
			Text: sb.String(), FinishReason: reason,
			PromptTokens: len(prompt), CompletionTokens: t.generated,
		}
		if !t.admitted.IsZero() {
			res.Queued = t.admitted.Sub(start)
		}
		if !t.firstTok.IsZero() {
			res.TimeToFirstToken = t.firstTok.Sub(start)
			res.Decode = time.Since(t.firstTok)
		}
		return res, nil
	}
}

func invalid(field, format string, args ...any) error {
	return &inference.InvalidError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// describeModel reads what ModelInfo needs from the validated header.
func describeModel(path string, f *gguf.File) (inference.ModelInfo, error) {
	arch := f.Architecture()
	if arch == "" {
		return inference.ModelInfo{}, errors.New("general.architecture is missing: not a model file")
	}
	if len(f.Tensors) == 0 {
		return inference.ModelInfo{}, errors.New("the file has no tensors (a vocabulary-only GGUF?)")
	}
	id := strings.TrimSuffix(filepath.Base(path), ".gguf")
	info := inference.ModelInfo{ID: id, Path: path, Architecture: arch, Parameters: f.ParameterCount(), FileSize: f.Size}
	info.Name, _ = f.String("general.name")
	if n, ok := f.Uint(arch + ".context_length"); ok {
		info.ContextLength = int(min(n, math.MaxInt32))
	}
	if v, ok := f.Value("aria.synthetic"); ok {
		info.Synthetic, _ = v.(bool)
	}
	for _, tc := range f.TypeCounts(true) {
		info.QuantTypes = append(info.QuantTypes, tc.Type.String())
	}
	return info, nil
}

// memoryNeeded estimates the resident bytes of a model: tensor data, an f16 KV cache of
// nCtx cells, and llama.cpp's compute buffers (a fixed margin plus the logits buffer).
func memoryNeeded(f *gguf.File, nCtx int) (total, kv uint64) {
	var weights uint64
	for _, t := range f.Tensors {
		weights += t.Size()
	}
	arch := f.Architecture()
	layers, _ := f.Uint(arch + ".block_count")
	embd, _ := f.Uint(arch + ".embedding_length")
	heads, _ := f.Uint(arch + ".attention.head_count")
	kvHeads, ok := f.Uint(arch + ".attention.head_count_kv")
	if !ok {
		kvHeads = heads
	}
	if heads > 0 && layers < 1<<16 && embd < 1<<24 {
		kvDim := embd / heads * kvHeads
		kv = 2 * 2 * layers * kvDim * uint64(nCtx)
	}
	vocab := uint64(0)
	if toks, ok := f.Strings("tokenizer.ggml.tokens"); ok {
		vocab = uint64(len(toks))
	}
	compute := uint64(256<<20) + 4*vocab*64
	return weights + kv + compute, kv
}

// memAvailable reads MemAvailable from /proc/meminfo (0 when unknown: no check).
func memAvailable() uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

func normalize(v []float32) {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(sum))
	for i := range v {
		v[i] *= inv
	}
}
