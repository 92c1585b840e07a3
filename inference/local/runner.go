package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/inference/llamacpp"
)

// runner owns one loaded model and the goroutine that decodes for it. All llama.cpp
// calls on the generation context happen on that goroutine: requests reach it through a
// bounded queue and get their output back through their task.
//
// Continuous batching: every loop iteration builds one llama_batch holding the next
// token of every generating sequence plus as many pending prompt tokens as fit, so new
// requests join while others are mid-generation, and one Decode serves them all.
type runner struct {
	info  inference.ModelInfo
	model *llamacpp.Model
	lctx  *llamacpp.Context
	batch *llamacpp.Batch
	cfg   runnerConfig
	log   *slog.Logger

	queue  chan *task
	quit   chan struct{}
	done   chan struct{}
	active atomic.Int32
	closed atomic.Bool

	slots []*slot
	piece []byte

	embedMu  sync.Mutex
	embedCtx *llamacpp.Context
	embedBat *llamacpp.Batch
}

type runnerConfig struct {
	Slots     int
	SlotCtx   int
	Batch     int
	Threads   int
	QueueSize int
	Duty      float64 // fraction of wall time the kernel may run; 1 = always
}

// slot is one llama.cpp sequence. Its KV cells stay after a request ends, so the next
// request that shares a prefix (a continued chat) skips recomputing it.
type slot struct {
	id       int
	t        *task
	cache    []int32 // tokens whose KV cells this sequence holds, in order
	fed      int     // prompt tokens of t already in the KV cache
	last     int32   // sampled token waiting to be fed
	logitIdx int     // batch entry whose logits this slot samples from, or -1
}

// task is one request travelling from Generate to the runner loop and back.
type task struct {
	ctx       context.Context
	cancel    context.CancelFunc
	prompt    []int32
	maxTokens int
	sampler   *sampler
	text      *textStream
	enqueued  time.Time

	// Set by the loop only.
	generated int
	admitted  time.Time
	firstTok  time.Time

	mu       sync.Mutex
	pending  []inference.Token
	finished bool
	finish   string
	err      error
	notify   chan struct{}
}

func (t *task) emit(tok inference.Token) {
	t.mu.Lock()
	t.pending = append(t.pending, tok)
	t.mu.Unlock()
	t.wake()
}

func (t *task) complete(finish string, err error) {
	t.mu.Lock()
	t.finished, t.finish, t.err = true, finish, err
	t.mu.Unlock()
	t.wake()
}

func (t *task) wake() {
	select {
	case t.notify <- struct{}{}:
	default:
	}
}

func newRunner(info inference.ModelInfo, model *llamacpp.Model, cfg runnerConfig) (*runner, error) {
	lctx, err := llamacpp.NewContext(model, llamacpp.ContextParams{
		NCtx:    cfg.Slots * cfg.SlotCtx,
		NBatch:  cfg.Batch,
		NSeqMax: cfg.Slots,
		Threads: cfg.Threads,
		// One KV stream per sequence: a sequence's cells sit at the same positions
		// whatever else runs, so batched output is bit-identical to running alone
		// (a unified buffer changes summation order in attention with the load).
		Unified: false,
	})
	if err != nil {
		return nil, err
	}
	batch, err := llamacpp.NewBatch(cfg.Batch)
	if err != nil {
		lctx.Close()
		return nil, err
	}
	r := &runner{
		info:  info,
		model: model,
		lctx:  lctx,
		batch: batch,
		cfg:   cfg,
		log:   slog.With("model", info.ID),
		queue: make(chan *task, cfg.QueueSize),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
		piece: make([]byte, 0, 64),
	}
	for i := range cfg.Slots {
		r.slots = append(r.slots, &slot{id: i, logitIdx: -1})
	}
	go r.loop()
	return r, nil
}

// submit queues t without blocking; a full queue is ErrBusy.
func (r *runner) submit(t *task) error {
	if r.closed.Load() {
		return inference.ErrClosed
	}
	select {
	case r.queue <- t:
		return nil
	default:
		return inference.ErrBusy
	}
}

// close stops the loop, failing every queued and running task, and frees C memory.
func (r *runner) close() {
	if r.closed.Swap(true) {
		<-r.done
		return
	}
	close(r.quit)
	<-r.done
	r.embedMu.Lock()
	if r.embedCtx != nil {
		r.embedCtx.Close()
		r.embedBat.Close()
		r.embedCtx, r.embedBat = nil, nil
	}
	r.embedMu.Unlock()
	r.batch.Close()
	r.lctx.Close()
	r.model.Close()
}

func (r *runner) loop() {
	defer close(r.done)
	defer r.failAll(inference.ErrClosed)
	for {
		for _, s := range r.slots {
			if s.t != nil && s.t.ctx.Err() != nil {
				r.release(s, "", s.t.ctx.Err())
			}
		}
		if !r.admit() {
			return
		}
		if r.active.Load() == 0 {
			continue
		}
		start := time.Now()
		if !r.step() {
			return
		}
		if r.cfg.Duty > 0 && r.cfg.Duty < 1 && !r.rest(time.Duration(float64(time.Since(start))*(1/r.cfg.Duty-1))) {
			return
		}
	}
}

// rest idles the kernel for d to keep its duty cycle; false when the runner quits.
func (r *runner) rest(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.quit:
		return false
	}
}

// admit moves queued tasks into free slots. With no active slot it blocks until a
// task arrives. It returns false when the runner is quitting.
func (r *runner) admit() bool {
	for {
		s := r.freeSlot()
		if s == nil {
			break
		}
		var t *task
		if r.active.Load() == 0 {
			select {
			case t = <-r.queue:
			case <-r.quit:
				return false
			}
		} else {
			select {
			case t = <-r.queue:
			case <-r.quit:
				return false
			default:
				return true
			}
		}
		if err := t.ctx.Err(); err != nil {
			t.complete("", err)
			continue
		}
		r.assign(t)
	}
	select {
	case <-r.quit:
		return false
	default:
		return true
	}
}

func (r *runner) freeSlot() *slot {
	for _, s := range r.slots {
		if s.t == nil {
			return s
		}
	}
	return nil
}

// assign puts t in a free slot, keeping the KV cells of the longest cached prefix it
// shares with t's prompt. Lower slot ids are preferred unless another slot saves at
// least reuseMin tokens: llama.cpp batches consecutive sequence ids in one pass, so
// keeping active slots packed at the bottom keeps every decode step a single pass.
func (r *runner) assign(t *task) {
	const reuseMin = 32
	var best *slot
	bestN := -1
	for _, s := range r.slots {
		if s.t != nil {
			continue
		}
		n := commonPrefix(s.cache, t.prompt)
		if best == nil || n >= bestN+reuseMin {
			best, bestN = s, n
		}
	}
	// At least one prompt token must be decoded to get logits for the first sample.
	keep := min(bestN, len(t.prompt)-1)
	if keep < len(best.cache) {
		if !r.lctx.TruncateSeq(best.id, keep) {
			r.lctx.ClearSeq(best.id)
			keep = 0
		}
		best.cache = best.cache[:keep]
	}
	best.t = t
	best.fed = keep
	best.logitIdx = -1
	t.admitted = time.Now()
	r.active.Add(1)
}

func commonPrefix(a, b []int32) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// step decodes one batch and samples for every slot that got logits. It returns false
// if the runner must stop.
func (r *runner) step() bool {
	b := r.batch
	b.Clear()
	// Generating slots first: one token each, so decode latency never waits on prompts.
	for _, s := range r.slots {
		s.logitIdx = -1
		if s.t != nil && s.fed == len(s.t.prompt) {
			s.logitIdx = b.Add(s.last, len(s.cache), s.id, true)
		}
	}
	for _, s := range r.slots {
		if s.t == nil || s.fed == len(s.t.prompt) {
			continue
		}
		for s.fed < len(s.t.prompt) && b.Len() < b.Cap() {
			lastPrompt := s.fed == len(s.t.prompt)-1
			idx := b.Add(s.t.prompt[s.fed], s.fed, s.id, lastPrompt)
			if lastPrompt {
				s.logitIdx = idx
			}
			s.fed++
		}
	}
	if b.Len() == 0 {
		return true
	}
	if err := r.lctx.Decode(b); err != nil {
		r.log.Error("decode failed", "err", err, "tokens", b.Len())
		for _, s := range r.slots {
			if s.t != nil {
				r.lctx.ClearSeq(s.id)
				s.cache = s.cache[:0]
				r.release(s, "", fmt.Errorf("inference failed: %w", err))
			}
		}
		return true
	}
	// Record what is now in each sequence's KV cache.
	for _, s := range r.slots {
		if s.t == nil {
			continue
		}
		if len(s.cache) < s.fed {
			s.cache = append(s.cache, s.t.prompt[len(s.cache):s.fed]...)
		} else if s.fed == len(s.t.prompt) && s.logitIdx >= 0 && s.t.generated > 0 {
			s.cache = append(s.cache, s.last)
		}
	}
	now := time.Now()
	for _, s := range r.slots {
		if s.t == nil || s.logitIdx < 0 {
			continue
		}
		r.sampleSlot(s, now)
	}
	return true
}

func (r *runner) sampleSlot(s *slot, now time.Time) {
	t := s.t
	tok := t.sampler.sample(r.lctx.Logits(s.logitIdx))
	t.sampler.accept(tok)
	if t.firstTok.IsZero() {
		t.firstTok = now
	}
	if r.model.IsEOG(tok) {
		r.finishText(s, inference.FinishStop)
		return
	}
	t.generated++
	r.piece = r.model.AppendPiece(r.piece[:0], tok)
	text, stopped := t.text.push(r.piece)
	t.emit(inference.Token{ID: tok, Text: text})
	switch {
	case stopped:
		r.release(s, inference.FinishStop, nil)
	case t.generated >= t.maxTokens, len(s.cache) >= r.cfg.SlotCtx:
		r.finishText(s, inference.FinishLength)
	default:
		s.last = tok
	}
}

// finishText flushes held-back text and ends the request.
func (r *runner) finishText(s *slot, reason string) {
	if rest := s.t.text.flush(); rest != "" {
		s.t.emit(inference.Token{ID: -1, Text: rest})
	}
	r.release(s, reason, nil)
}

func (r *runner) release(s *slot, reason string, err error) {
	t := s.t
	s.t = nil
	s.logitIdx = -1
	r.active.Add(-1)
	t.complete(reason, err)
}

func (r *runner) failAll(err error) {
	for _, s := range r.slots {
		if s.t != nil {
			r.release(s, "", err)
		}
	}
	for {
		select {
		case t := <-r.queue:
			t.complete("", err)
		default:
			return
		}
	}
}

// embed computes mean-pooled, L2-normalised embeddings on a second context, created on
// first use so nodes that never embed pay nothing.
func (r *runner) embed(ctx context.Context, texts []string) ([][]float32, error) {
	r.embedMu.Lock()
	defer r.embedMu.Unlock()
	if r.closed.Load() {
		return nil, inference.ErrClosed
	}
	if r.embedCtx == nil {
		n := min(r.cfg.SlotCtx, 2048)
		ec, err := llamacpp.NewContext(r.model, llamacpp.ContextParams{
			NCtx: n, NBatch: n, NSeqMax: 1, Threads: r.cfg.Threads,
			Embeddings: true, Pooling: llamacpp.PoolingMean,
		})
		if err != nil {
			return nil, err
		}
		eb, err := llamacpp.NewBatch(n)
		if err != nil {
			ec.Close()
			return nil, err
		}
		r.embedCtx, r.embedBat = ec, eb
	}
	out := make([][]float32, 0, len(texts))
	for i, text := range texts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		toks, err := r.model.Tokenize(text, r.model.AddBOS(), false)
		if err != nil {
			return nil, err
		}
		if len(toks) == 0 {
			return nil, invalid("input", "text %d is empty", i)
		}
		if len(toks) > r.embedBat.Cap() {
			return nil, fmt.Errorf("%w: input %d has %d tokens, the embedding window is %d", inference.ErrContextLength, i, len(toks), r.embedBat.Cap())
		}
		r.embedCtx.ClearAll()
		r.embedBat.Clear()
		for p, tk := range toks {
			r.embedBat.Add(tk, p, 0, true)
		}
		if err := r.embedCtx.Decode(r.embedBat); err != nil {
			return nil, fmt.Errorf("embedding decode: %w", err)
		}
		v := r.embedCtx.SeqEmbedding(0)
		if v == nil {
			return nil, errors.New("llama.cpp returned no pooled embedding")
		}
		normalize(v)
		out = append(out, v)
	}
	return out, nil
}
