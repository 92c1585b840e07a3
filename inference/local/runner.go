package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
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

	// mu orders submit and acquire against close: once closed is set no task enters
	// the queue (the loop's last drain sees every task) and no caller takes the model.
	mu     sync.Mutex
	closed bool
	// users counts callers using the C model outside the loop (tokenize, detokenize,
	// embed, a whole Generate); close waits for them before freeing it.
	users sync.WaitGroup

	slots []*slot
	piece []byte

	threads int       // the context's current thread count
	gov     *governor // nil with fixed threads
	// lateHandOffs counts steps that stopped waiting for a consumer (tests).
	lateHandOffs atomic.Int64
	// The last decode's wall and process CPU time, for the governor.
	decodeWall, decodeCPU time.Duration

	embedMu  sync.Mutex
	embedCtx *llamacpp.Context
	embedBat *llamacpp.Batch

	vocabOnce sync.Once
	vocab     *vocabIndex
}

// vocabIndex returns the vocabulary index constrained decoding uses, built on first
// use (a pass over the vocabulary) so unconstrained nodes never pay for it.
func (r *runner) vocabIndex() *vocabIndex {
	r.vocabOnce.Do(func() {
		r.vocab = newVocabIndex(r.model.NVocab(), func(t int32) []byte { return r.model.AppendPiece(nil, t) }, r.model.IsEOG)
	})
	return r.vocab
}

type runnerConfig struct {
	Slots     int
	SlotCtx   int
	Batch     int
	Threads   int // with any owner request in the batch
	QueueSize int
	Remote    Share // with only remote requests in the batch
	// FixedThreads turns the thread governor off (see governor).
	FixedThreads bool
	// stepHook, when set (tests), is called before each decode step with the threads
	// and duty cycle it runs with and how many owner and remote requests are in it.
	stepHook func(threads int, duty float64, owner, remote int)
	// cpus is the machine's CPU count (runtime.NumCPU; tests override it).
	cpus int
	// handOffWait bounds the wait for consumers before a decode (handOffWait; tests).
	handOffWait time.Duration
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
	remote    bool // work for others: runs under the remote share
	sampler   *sampler
	text      *textStream
	enqueued  time.Time
	// constraint is nil for free generation.
	constraint  *constraint
	logprobs    bool
	topLogprobs int

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
	// taken is signalled by the consumer each time it has handed on what it took.
	taken chan struct{}

	// Loop only: a token went out in the last step; the consumer missed a handoff.
	emitted   bool
	lateTakes int
}

func (t *task) emit(tok inference.Token) {
	t.emitted = true
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
	if cfg.cpus <= 0 {
		cfg.cpus = runtime.NumCPU()
	}
	if cfg.handOffWait <= 0 {
		cfg.handOffWait = handOffWait
	}
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
		info:    info,
		model:   model,
		lctx:    lctx,
		batch:   batch,
		cfg:     cfg,
		log:     slog.With("model", info.ID),
		queue:   make(chan *task, cfg.QueueSize),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		piece:   make([]byte, 0, 64),
		threads: cfg.Threads,
	}
	if !cfg.FixedThreads && cfg.Threads > 1 {
		r.gov = newGovernor(cfg.Threads)
	}
	for i := range cfg.Slots {
		r.slots = append(r.slots, &slot{id: i, logitIdx: -1})
	}
	go r.loop()
	return r, nil
}

// testHookSubmit, when set (tests), runs inside submit after the closed check and
// before the enqueue: the window where a concurrent close used to strand the task.
var testHookSubmit func()

// submit queues t without blocking; a full queue is ErrBusy.
func (r *runner) submit(t *task) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return inference.ErrClosed
	}
	if testHookSubmit != nil {
		testHookSubmit()
	}
	select {
	case r.queue <- t:
		return nil
	default:
		return inference.ErrBusy
	}
}

// acquire takes a reference on the C model for a caller outside the loop; release it
// with r.users.Done(). It fails once the runner is closing.
func (r *runner) acquire() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return inference.ErrClosed
	}
	r.users.Add(1)
	return nil
}

// close stops the loop, failing every queued and running task, waits for every
// holder of the model, and frees C memory.
func (r *runner) close() {
	r.mu.Lock()
	was := r.closed
	r.closed = true
	r.mu.Unlock()
	if was {
		<-r.done
		return
	}
	close(r.quit)
	<-r.done
	r.users.Wait()
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
	// Every llama.cpp call runs on one OS thread: Go would otherwise move the runner
	// between threads (and the kernel between cores) at every channel wait, and
	// decode measured 4% slower through HTTP at 2 threads and 10% at 1 (see README).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
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
		threads, duty := r.share()
		if r.gov != nil {
			threads = min(threads, r.gov.limit(time.Now()))
		}
		if threads != r.threads {
			r.lctx.SetThreads(threads)
			r.threads = threads
		}
		if threads >= r.cfg.cpus {
			r.handOff()
		}
		if r.cfg.stepHook != nil {
			owner, remote := 0, 0
			for _, s := range r.slots {
				if s.t != nil && s.t.remote {
					remote++
				} else if s.t != nil {
					owner++
				}
			}
			r.cfg.stepHook(threads, duty, owner, remote)
		}
		start := time.Now()
		r.decodeWall = 0
		if !r.step() {
			return
		}
		if r.gov != nil && r.decodeWall > 0 {
			r.gov.observe(time.Now(), threads, r.decodeWall, r.decodeCPU)
		}
		if duty > 0 && duty < 1 && !r.rest(time.Duration(float64(time.Since(start))*(1/duty-1))) {
			return
		}
	}
}

// Handing tokens off before decoding on. When the kernel's threads take every CPU,
// work the consumers do while a decode runs (waking, encoding an SSE chunk, writing
// the socket) takes a core from one of llama.cpp's spin-waiting threads, and the
// others spin until it is back: on 2 cores an HTTP stream decoded 10-20% slower than
// the bare kernel. So before the next decode the runner waits until each consumer
// that got a token has handed it on, at most handOffWait per step. A consumer late
// lateTakeLimit times (a slow peer link, a client not reading) is not waited for again.
const (
	handOffWait   = 2 * time.Millisecond
	lateTakeLimit = 2
)

// handOff waits for the consumers of the last step's tokens; see handOffWait.
func (r *runner) handOff() {
	var timer *time.Timer
	for _, s := range r.slots {
		t := s.t
		if t == nil || !t.emitted {
			continue
		}
		t.emitted = false
		if t.lateTakes >= lateTakeLimit {
			continue
		}
		select {
		case <-t.taken:
			continue
		default:
		}
		if timer == nil {
			timer = time.NewTimer(r.cfg.handOffWait)
			defer timer.Stop()
		}
		select {
		case <-t.taken:
		case <-timer.C:
			t.lateTakes++
			r.lateHandOffs.Add(1)
			return
		case <-r.quit:
			return
		}
	}
}

// share is how the next step runs: the owner's threads at full duty when any owner
// request is in the batch, else the remote share.
func (r *runner) share() (threads int, duty float64) {
	for _, s := range r.slots {
		if s.t != nil && !s.t.remote {
			return r.cfg.Threads, 1
		}
	}
	return r.cfg.Remote.Threads, r.cfg.Remote.Duty
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
			r.lctx.Idle() // waiting for work is not per-token time
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
	// The governor's CPU accounting costs two getrusage calls per decode: only with one.
	var c0 time.Duration
	if r.gov != nil {
		c0 = processCPU()
	}
	t0 := time.Now()
	err := r.lctx.Decode(b)
	if r.gov != nil {
		r.decodeWall, r.decodeCPU = time.Since(t0), processCPU()-c0
	}
	if err != nil {
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
	logits := r.lctx.Logits(s.logitIdx)
	t.sampler.penalize(logits)
	c := t.constraint
	masked := false
	if c != nil && c.active() && !c.undecided() && t.logprobs {
		// Logprobs describe the distribution sampled from: mask before drawing.
		if !c.maskLogits(logits) {
			r.release(s, "", errGrammarDeadEnd)
			return
		}
		masked = true
	}
	tok := t.sampler.draw(logits)
	if c != nil && c.active() && !masked && !c.allows(tok) {
		if !c.maskLogits(logits) {
			r.release(s, "", errGrammarDeadEnd)
			return
		}
		tok = t.sampler.draw(logits)
	}
	var lp *inference.TokenLogprob
	if t.logprobs {
		v := t.sampler.logprobs(logits, tok, t.topLogprobs, func(id int32) []byte { return r.model.AppendPiece(nil, id) })
		lp = &v
	}
	t.sampler.accept(tok)
	if t.firstTok.IsZero() {
		t.firstTok = now
	}
	if r.model.IsEOG(tok) {
		r.finishText(s, inference.FinishStop)
		return
	}
	final := c != nil && c.accept(tok)
	t.generated++
	r.piece = r.model.AppendPiece(r.piece[:0], tok)
	text, stopped := t.text.push(r.piece)
	out := inference.Token{ID: tok, Text: text}
	if lp != nil {
		out.Bytes, out.Logprob = append([]byte(nil), r.piece...), lp
	}
	t.emit(out)
	switch {
	case stopped:
		r.release(s, inference.FinishStop, nil)
	case final:
		r.finishText(s, inference.FinishStop)
	case t.generated >= t.maxTokens, len(s.cache) >= r.cfg.SlotCtx:
		r.finishText(s, inference.FinishLength)
	default:
		s.last = tok
	}
}

// errGrammarDeadEnd: no token of the vocabulary continues the constrained output (a
// grammar needing bytes the vocabulary cannot spell).
var errGrammarDeadEnd = errors.New("constrained decoding: no token of the vocabulary continues the required format")

// finishText flushes held-back text and ends the request.
func (r *runner) finishText(s *slot, reason string) {
	if rest := s.t.text.flush(); rest != "" {
		s.t.emit(inference.Token{ID: inference.FlushToken, Text: rest})
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

// embed computes mean-pooled, L2-normalised embeddings (see embedInputs).
func (r *runner) embed(ctx context.Context, texts []string) ([][]float32, error) {
	res, err := r.embedInputs(ctx, inference.EmbedRequest{Texts: texts})
	return res.Vectors, err
}
