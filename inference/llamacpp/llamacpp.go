// Package llamacpp is aria's thin cgo binding to the llama.cpp sources vendored by
// github.com/ollama/ollama v0.17.4. It is the only package that imports "C": every C
// object is owned by exactly one Go value with a Close method, and nothing outside this
// package sees a C type.
//
// Headers are found through CGO_CPPFLAGS (the Makefile sets it to the module's
// llama.cpp/include and ggml/include directories); the C and C++ sources themselves are
// compiled by the blank import of ollama's llama.cpp/src package, which pulls in ggml and
// its CPU backend. Unlike ollama's own llama package, nothing here links mtmd or common,
// so no audio, image or JSON headers are needed.
package llamacpp

/*
#cgo CFLAGS: -std=c11
#cgo CXXFLAGS: -std=c++17
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 199309L // clock_gettime under -std=c11
#endif
#include <stdlib.h>
#include <stdint.h>
#include <time.h>
#include "llama.h"
#include "ggml.h"

static int64_t aria_now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// aria_decode runs llama_decode and records when it started and ended (t[0], t[1]) on
// the clock Go's monotonic time uses, so the caller can tell time spent in the kernel
// from time spent between decodes.
static int32_t aria_decode(struct llama_context *ctx, struct llama_batch b, int64_t *t) {
	t[0] = aria_now_ns();
	int32_t rc = llama_decode(ctx, b);
	t[1] = aria_now_ns();
	return rc;
}

// Patch 0003 (arch/x86/quants.c) names the TQ2_0 kernels it chose; weak, so a build
// without that file (not x86) links and says so.
extern const char *ggml_aria_tq2_0_kernel(void) __attribute__((weak));

static const char *aria_tq2_0_kernel(void) {
	return ggml_aria_tq2_0_kernel ? ggml_aria_tq2_0_kernel() : "ggml generic (not x86)";
}

extern void ariaLlamaLog(int level, char *text, void *user_data);

static void aria_log_trampoline(enum ggml_log_level level, const char *text, void *user_data) {
	ariaLlamaLog((int)level, (char *)text, user_data);
}

static void aria_set_log(void) {
	llama_log_set(aria_log_trampoline, NULL);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	_ "github.com/ollama/ollama/llama/llama.cpp/src"
)

var initOnce sync.Once

// Init initialises the llama.cpp backend once per process and routes its log output
// into log/slog (INFO lines from llama.cpp become slog debug records: it is chatty).
func Init() {
	initOnce.Do(func() {
		C.aria_set_log()
		C.llama_backend_init()
	})
}

var logState struct {
	mu    sync.Mutex
	buf   strings.Builder
	level int
}

//export ariaLlamaLog
func ariaLlamaLog(level C.int, text *C.char, _ unsafe.Pointer) {
	lvl := int(level)
	if lvl == C.GGML_LOG_LEVEL_DEBUG {
		return
	}
	s := C.GoString(text)
	logState.mu.Lock()
	defer logState.mu.Unlock()
	if lvl != C.GGML_LOG_LEVEL_CONT {
		logState.level = lvl
	}
	logState.buf.WriteString(s)
	if !strings.HasSuffix(s, "\n") {
		return
	}
	msg := strings.TrimRight(logState.buf.String(), "\n")
	logState.buf.Reset()
	switch logState.level {
	case C.GGML_LOG_LEVEL_ERROR:
		slog.Error("llama.cpp: " + msg)
	case C.GGML_LOG_LEVEL_WARN:
		slog.Warn("llama.cpp: " + msg)
	default:
		slog.Debug("llama.cpp: " + msg)
	}
}

// SystemInfo reports the CPU features ggml was compiled with (AVX2, F16C, ...).
func SystemInfo() string {
	return C.GoString(C.llama_print_system_info())
}

// ErrNoKVSlot means llama_decode found no room in the KV cache for the batch.
var ErrNoKVSlot = errors.New("llama.cpp: no KV cache slot for batch")

// ModelParams configures LoadModel.
type ModelParams struct {
	UseMmap   bool // map the file instead of reading it (pages are shared and lazily loaded)
	VocabOnly bool // load only the vocabulary: tokenization without weights
}

// Model is a loaded GGUF model: weights and vocabulary.
type Model struct {
	c      *C.struct_llama_model
	vocab  *C.struct_llama_vocab
	nVocab int
}

// LoadModel loads a GGUF file. The caller must have validated the file: llama.cpp
// aborts the process on some malformed inputs instead of returning an error.
func LoadModel(path string, p ModelParams) (*Model, error) {
	Init()
	params := C.llama_model_default_params()
	params.n_gpu_layers = 0
	params.use_mmap = C.bool(p.UseMmap)
	params.vocab_only = C.bool(p.VocabOnly)
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	m := C.llama_model_load_from_file(cpath, params)
	if m == nil {
		return nil, fmt.Errorf("llama.cpp could not load %s (see the log for its reason)", path)
	}
	v := C.llama_model_get_vocab(m)
	return &Model{c: m, vocab: v, nVocab: int(C.llama_vocab_n_tokens(v))}, nil
}

// Close frees the model. It must not be used afterwards, nor any Context made from it.
func (m *Model) Close() {
	if m.c != nil {
		C.llama_model_free(m.c)
		m.c = nil
	}
}

func (m *Model) NVocab() int     { return m.nVocab }
func (m *Model) NEmbd() int      { return int(C.llama_model_n_embd(m.c)) }
func (m *Model) NCtxTrain() int  { return int(C.llama_model_n_ctx_train(m.c)) }
func (m *Model) NParams() uint64 { return uint64(C.llama_model_n_params(m.c)) }
func (m *Model) Size() uint64    { return uint64(C.llama_model_size(m.c)) }
func (m *Model) AddBOS() bool    { return bool(C.llama_vocab_get_add_bos(m.vocab)) }

// Desc is llama.cpp's one-line description, e.g. "bitnet ?B TQ2_0 - 2.06 bpw ternary".
func (m *Model) Desc() string {
	var buf [256]C.char
	n := C.llama_model_desc(m.c, &buf[0], C.size_t(len(buf)))
	if n < 0 {
		return ""
	}
	return C.GoString(&buf[0])
}

// Meta returns a metadata value rendered as a string by llama.cpp.
func (m *Model) Meta(key string) (string, bool) {
	ckey := C.CString(key)
	defer C.free(unsafe.Pointer(ckey))
	buf := make([]byte, 256)
	for {
		n := int(C.llama_model_meta_val_str(m.c, ckey, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf))))
		if n < 0 {
			return "", false
		}
		if n < len(buf) {
			return string(buf[:n]), true
		}
		buf = make([]byte, n+1)
	}
}

// ChatTemplate returns the model's tokenizer.chat_template, or "" when it has none.
func (m *Model) ChatTemplate() string {
	t := C.llama_model_chat_template(m.c, nil)
	if t == nil {
		return ""
	}
	return C.GoString(t)
}

// IsEOG reports whether tok ends generation (EOS, EOT and friends).
func (m *Model) IsEOG(tok int32) bool { return bool(C.llama_vocab_is_eog(m.vocab, C.llama_token(tok))) }

// Tokenize converts text to token ids. addSpecial adds BOS/EOS as the model asks;
// parseSpecial maps control-token text such as <|im_start|> to its token.
func (m *Model) Tokenize(text string, addSpecial, parseSpecial bool) ([]int32, error) {
	if len(text) > 1<<30 {
		return nil, fmt.Errorf("tokenize: text of %d bytes is too long", len(text))
	}
	n := len(text) + 8
	out := make([]int32, n)
	var cText *C.char
	if len(text) > 0 {
		cText = (*C.char)(unsafe.Pointer(unsafe.StringData(text)))
	}
	got := C.llama_tokenize(m.vocab, cText, C.int32_t(len(text)), (*C.llama_token)(unsafe.Pointer(&out[0])), C.int32_t(n), C.bool(addSpecial), C.bool(parseSpecial))
	if got < 0 {
		if got == C.INT32_MIN {
			return nil, errors.New("tokenize: result too large")
		}
		out = make([]int32, int(-got))
		got = C.llama_tokenize(m.vocab, cText, C.int32_t(len(text)), (*C.llama_token)(unsafe.Pointer(&out[0])), C.int32_t(len(out)), C.bool(addSpecial), C.bool(parseSpecial))
		if got < 0 {
			return nil, fmt.Errorf("tokenize: llama.cpp returned %d", int(got))
		}
	}
	return out[:got], nil
}

// AppendPiece appends the bytes of tok to dst. Control tokens render as nothing: their
// text is never part of generated output. Pieces may be partial UTF-8 sequences.
func (m *Model) AppendPiece(dst []byte, tok int32) []byte {
	var buf [64]byte
	n := int(C.llama_token_to_piece(m.vocab, C.llama_token(tok), (*C.char)(unsafe.Pointer(&buf[0])), C.int32_t(len(buf)), 0, false))
	if n >= 0 {
		return append(dst, buf[:n]...)
	}
	big := make([]byte, -n)
	n = int(C.llama_token_to_piece(m.vocab, C.llama_token(tok), (*C.char)(unsafe.Pointer(&big[0])), C.int32_t(len(big)), 0, false))
	if n < 0 {
		return dst
	}
	return append(dst, big[:n]...)
}

// ChatMessage is one message handed to ApplyChatTemplate.
type ChatMessage struct{ Role, Content string }

// ErrUnknownTemplate means llama.cpp does not recognise the chat template.
var ErrUnknownTemplate = errors.New("chat template not supported by llama.cpp")

// ApplyChatTemplate renders msgs with a chat template, recognised the way llama.cpp
// does (by its distinctive markers, not by running Jinja). addAssistant ends the prompt
// with the opening of an assistant turn.
func ApplyChatTemplate(tmpl string, msgs []ChatMessage, addAssistant bool) (string, error) {
	ctmpl := C.CString(tmpl)
	defer C.free(unsafe.Pointer(ctmpl))
	cmsgs := C.malloc(C.size_t(len(msgs)+1) * C.size_t(unsafe.Sizeof(C.llama_chat_message{})))
	defer C.free(cmsgs)
	arr := unsafe.Slice((*C.llama_chat_message)(cmsgs), len(msgs)+1)
	total := 0
	for i, msg := range msgs {
		arr[i].role = C.CString(msg.Role)
		arr[i].content = C.CString(msg.Content)
		total += len(msg.Role) + len(msg.Content)
		defer C.free(unsafe.Pointer(arr[i].role))
		defer C.free(unsafe.Pointer(arr[i].content))
	}
	size := 2*total + 256
	for {
		buf := C.malloc(C.size_t(size))
		n := int(C.llama_chat_apply_template(ctmpl, &arr[0], C.size_t(len(msgs)), C.bool(addAssistant), (*C.char)(buf), C.int32_t(size)))
		if n < 0 {
			C.free(buf)
			return "", ErrUnknownTemplate
		}
		if n <= size {
			s := C.GoStringN((*C.char)(buf), C.int(n))
			C.free(buf)
			return s, nil
		}
		C.free(buf)
		size = n
	}
}

// Pooling selects how a context pools per-token embeddings.
type Pooling int

const (
	PoolingNone Pooling = C.LLAMA_POOLING_TYPE_NONE
	PoolingMean Pooling = C.LLAMA_POOLING_TYPE_MEAN
)

// ContextParams configures NewContext.
type ContextParams struct {
	NCtx       int // total KV cells; with NSeqMax > 1 each sequence gets NCtx/NSeqMax
	NBatch     int // max tokens per Decode call
	NSeqMax    int // parallel sequences
	Threads    int
	Unified    bool // one KV buffer shared by all sequences (see llama.h kv_unified)
	Embeddings bool // output pooled embeddings instead of logits
	Pooling    Pooling
}

// Context is a llama.cpp inference context: KV cache and compute buffers. It is not
// safe for concurrent use; the engine drives each Context from one goroutine.
type Context struct {
	c      *C.struct_llama_context
	model  *Model
	nVocab int
	nEmbd  int

	times   [2]C.int64_t // the last Decode's start and end (C clock)
	lastEnd int64        // end of the previous Decode in this run of decodes, 0 after Idle
	stats   decodeStats
}

// DecodeStats are a context's cumulative decode timings. Gap is the time from the end
// of one Decode to the start of the next within a run of decodes (Idle ends a run):
// the caller's own per-token work. Resume is the part of it between llama_decode
// returning in C and the calling goroutine running again in Go (the scheduler's).
type DecodeStats struct {
	Decodes int64
	Decode  time.Duration
	Gaps    int64
	Gap     time.Duration
	Resume  time.Duration
}

// Sub is s minus an earlier snapshot.
func (s DecodeStats) Sub(o DecodeStats) DecodeStats {
	return DecodeStats{Decodes: s.Decodes - o.Decodes, Decode: s.Decode - o.Decode, Gaps: s.Gaps - o.Gaps, Gap: s.Gap - o.Gap, Resume: s.Resume - o.Resume}
}

type decodeStats struct{ decodes, decode, gaps, gap, resume atomic.Int64 }

// Stats returns the context's decode timings so far. Unlike every other method it may
// be called from any goroutine.
func (c *Context) Stats() DecodeStats {
	s := &c.stats
	return DecodeStats{Decodes: s.decodes.Load(), Decode: time.Duration(s.decode.Load()), Gaps: s.gaps.Load(),
		Gap: time.Duration(s.gap.Load()), Resume: time.Duration(s.resume.Load())}
}

// Idle ends a run of decodes: the time until the next Decode is not a gap (the caller
// waits for work).
func (c *Context) Idle() { c.lastEnd = 0 }

// NewContext creates an inference context on m.
func NewContext(m *Model, p ContextParams) (*Context, error) {
	cp := C.llama_context_default_params()
	cp.n_ctx = C.uint32_t(p.NCtx)
	cp.n_batch = C.uint32_t(p.NBatch)
	cp.n_ubatch = C.uint32_t(p.NBatch)
	cp.n_seq_max = C.uint32_t(max(1, p.NSeqMax))
	cp.n_threads = C.int32_t(p.Threads)
	cp.n_threads_batch = C.int32_t(p.Threads)
	cp.embeddings = C.bool(p.Embeddings)
	cp.pooling_type = C.enum_llama_pooling_type(p.Pooling)
	cp.kv_unified = C.bool(p.Unified)
	cp.no_perf = true
	c := C.llama_init_from_model(m.c, cp)
	if c == nil {
		return nil, fmt.Errorf("llama.cpp could not create a context (n_ctx=%d, n_seq_max=%d): out of memory?", p.NCtx, p.NSeqMax)
	}
	return &Context{c: c, model: m, nVocab: m.nVocab, nEmbd: m.NEmbd()}, nil
}

// Close frees the context.
func (c *Context) Close() {
	if c.c != nil {
		C.llama_free(c.c)
		c.c = nil
	}
}

func (c *Context) NCtx() int    { return int(C.llama_n_ctx(c.c)) }
func (c *Context) NCtxSeq() int { return int(C.llama_n_ctx_seq(c.c)) }
func (c *Context) NBatch() int  { return int(C.llama_n_batch(c.c)) }

// TernaryKernel names the TQ2_0 × Q8_K kernels ggml uses in this process, as ggml
// chose them (patches 0002 and 0003): AVX-512 VNNI when the CPU has it (one row, and 2
// rows × 4 columns when a batch holds a multiple of 4 sequences), else AVX2 with 2 × 2
// tiles for even batches. ARIA_TQ2_0_VNNI=0 and ARIA_TQ2_0_2X2=0 in the environment at
// the first decode turn each off for the life of the process.
func TernaryKernel() string { return C.GoString(C.aria_tq2_0_kernel()) }

// SetThreads changes the number of CPU threads used by later Decode calls.
func (c *Context) SetThreads(n int) { C.llama_set_n_threads(c.c, C.int32_t(n), C.int32_t(n)) }

// Decode runs the model over a batch, appending its tokens to the KV cache.
func (c *Context) Decode(b *Batch) error {
	code := int(C.aria_decode(c.c, b.c, &c.times[0]))
	resumed := int64(C.aria_now_ns())
	start, end := int64(c.times[0]), int64(c.times[1])
	s := &c.stats
	s.decodes.Add(1)
	s.decode.Add(end - start)
	s.resume.Add(resumed - end)
	if c.lastEnd != 0 {
		s.gaps.Add(1)
		s.gap.Add(start - c.lastEnd)
	}
	c.lastEnd = end
	switch {
	case code == 0:
		return nil
	case code == 1:
		return ErrNoKVSlot
	default:
		return fmt.Errorf("llama_decode failed with code %d", code)
	}
}

// Logits returns the logits of batch entry i from the last Decode. The slice aliases
// llama.cpp's buffer: it is valid only until the next Decode and must not be kept.
func (c *Context) Logits(i int) []float32 {
	p := C.llama_get_logits_ith(c.c, C.int32_t(i))
	if p == nil {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(p)), c.nVocab)
}

// SeqEmbedding returns a copy of the pooled embedding of sequence seq (pooling contexts only).
func (c *Context) SeqEmbedding(seq int) []float32 {
	p := C.llama_get_embeddings_seq(c.c, C.llama_seq_id(seq))
	if p == nil {
		return nil
	}
	return append([]float32(nil), unsafe.Slice((*float32)(unsafe.Pointer(p)), c.nEmbd)...)
}

// ClearSeq removes every KV cell of sequence seq.
func (c *Context) ClearSeq(seq int) {
	C.llama_memory_seq_rm(C.llama_get_memory(c.c), C.llama_seq_id(seq), -1, -1)
}

// TruncateSeq removes the KV cells of sequence seq from position p0 on.
func (c *Context) TruncateSeq(seq, p0 int) bool {
	return bool(C.llama_memory_seq_rm(C.llama_get_memory(c.c), C.llama_seq_id(seq), C.llama_pos(p0), -1))
}

// ClearAll empties the whole KV cache.
func (c *Context) ClearAll() { C.llama_memory_clear(C.llama_get_memory(c.c), true) }

// Batch is a llama_batch of up to Cap tokens, each in one sequence.
type Batch struct {
	c      C.struct_llama_batch
	cap    int
	token  []C.llama_token
	pos    []C.llama_pos
	nSeq   []C.int32_t
	seq    []*C.llama_seq_id
	logits []C.int8_t
}

// NewBatch allocates a batch of capacity n tokens.
func NewBatch(n int) (*Batch, error) {
	b := C.llama_batch_init(C.int32_t(n), 0, 1)
	if b.token == nil || b.pos == nil || b.n_seq_id == nil || b.seq_id == nil || b.logits == nil {
		C.llama_batch_free(b)
		return nil, fmt.Errorf("cannot allocate a batch of %d tokens", n)
	}
	return &Batch{
		c:      b,
		cap:    n,
		token:  unsafe.Slice(b.token, n),
		pos:    unsafe.Slice(b.pos, n),
		nSeq:   unsafe.Slice(b.n_seq_id, n),
		seq:    unsafe.Slice(b.seq_id, n),
		logits: unsafe.Slice(b.logits, n),
	}, nil
}

// Add appends a token at position pos of sequence seq; wantLogits asks Decode to
// compute logits for it. It returns the entry's index, or -1 when the batch is full.
func (b *Batch) Add(tok int32, pos, seq int, wantLogits bool) int {
	i := int(b.c.n_tokens)
	if i >= b.cap {
		return -1
	}
	b.token[i] = C.llama_token(tok)
	b.pos[i] = C.llama_pos(pos)
	b.nSeq[i] = 1
	*b.seq[i] = C.llama_seq_id(seq)
	if wantLogits {
		b.logits[i] = 1
	} else {
		b.logits[i] = 0
	}
	b.c.n_tokens++
	return i
}

func (b *Batch) Len() int { return int(b.c.n_tokens) }
func (b *Batch) Cap() int { return b.cap }
func (b *Batch) Clear()   { b.c.n_tokens = 0 }

// Close frees the batch.
func (b *Batch) Close() {
	if b.cap > 0 {
		C.llama_batch_free(b.c)
		b.cap = 0
	}
}

// QuantizeRows quantizes float32 rows to a ggml type with ggml's own reference code.
// aria writes ternary tensors in Go; this exists so tests can prove them byte-identical.
func QuantizeRows(ggmlType int, src []float32, nPerRow int) ([]byte, error) {
	if nPerRow <= 0 || len(src)%nPerRow != 0 {
		return nil, fmt.Errorf("quantize: %d values are not whole rows of %d", len(src), nPerRow)
	}
	t := C.enum_ggml_type(ggmlType)
	nrows := len(src) / nPerRow
	rowSize := int(C.ggml_row_size(t, C.int64_t(nPerRow)))
	if rowSize <= 0 || len(src) == 0 {
		return nil, fmt.Errorf("quantize: bad type %d or empty input", ggmlType)
	}
	out := make([]byte, rowSize*nrows)
	C.ggml_quantize_chunk(t, (*C.float)(unsafe.Pointer(&src[0])), unsafe.Pointer(&out[0]), 0, C.int64_t(nrows), C.int64_t(nPerRow), nil)
	return out, nil
}
