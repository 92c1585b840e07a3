package local

import (
	"context"
	"errors"
	"fmt"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/inference/llamacpp"
)

// embedSeqs is how many inputs one embedding decode packs together.
const embedSeqs = 8

// embedInputs computes mean-pooled, L2-normalised embeddings on a second context
// (the caller holds a reference on the model),
// created on first use so nodes that never embed pay nothing. Inputs are packed into
// batches of up to embedSeqs sequences (one llama.cpp sequence each) so short inputs
// share a decode.
func (r *runner) embedInputs(ctx context.Context, req inference.EmbedRequest) (inference.EmbedResult, error) {
	var res inference.EmbedResult
	// Tokenize and check everything before touching the kernel.
	inputs := make([][]int32, 0, req.Inputs())
	for i, text := range req.Texts {
		toks, err := r.model.Tokenize(text, r.model.AddBOS(), false)
		if err != nil {
			return res, err
		}
		if len(toks) == 0 {
			return res, &inference.InvalidError{Field: fmt.Sprintf("input[%d]", i), Msg: "is empty"}
		}
		inputs = append(inputs, toks)
	}
	for i, toks := range req.Tokens {
		if len(toks) == 0 {
			return res, &inference.InvalidError{Field: fmt.Sprintf("input[%d]", i), Msg: "is an empty token array"}
		}
		for j, t := range toks {
			if t < 0 || int(t) >= r.model.NVocab() {
				return res, &inference.InvalidError{Field: fmt.Sprintf("input[%d][%d]", i, j), Msg: fmt.Sprintf("token id %d is outside the vocabulary (0..%d)", t, r.model.NVocab()-1)}
			}
		}
		inputs = append(inputs, toks)
	}
	r.embedMu.Lock()
	defer r.embedMu.Unlock()
	if r.embedCtx == nil {
		n := min(r.cfg.SlotCtx, 2048)
		ec, err := llamacpp.NewContext(r.model, llamacpp.ContextParams{
			NCtx: n, NBatch: n, NSeqMax: embedSeqs, Threads: r.cfg.Threads, Unified: true,
			Embeddings: true, Pooling: llamacpp.PoolingMean,
		})
		if err != nil {
			return res, err
		}
		eb, err := llamacpp.NewBatch(n)
		if err != nil {
			ec.Close()
			return res, err
		}
		r.embedCtx, r.embedBat = ec, eb
	}
	window := r.embedBat.Cap()
	for i, toks := range inputs {
		if len(toks) > window {
			return res, fmt.Errorf("%w: input %d has %d tokens, the embedding window is %d", inference.ErrContextLength, i, len(toks), window)
		}
		res.PromptTokens += len(toks)
	}
	res.Vectors = make([][]float32, 0, len(inputs))
	for start := 0; start < len(inputs); {
		if err := ctx.Err(); err != nil {
			return inference.EmbedResult{}, err
		}
		r.embedCtx.ClearAll()
		r.embedBat.Clear()
		end, used := start, 0
		for end < len(inputs) && end-start < embedSeqs && used+len(inputs[end]) <= window {
			for p, tk := range inputs[end] {
				r.embedBat.Add(tk, p, end-start, true)
			}
			used += len(inputs[end])
			end++
		}
		if err := r.embedCtx.Decode(r.embedBat); err != nil {
			return inference.EmbedResult{}, fmt.Errorf("embedding decode: %w", err)
		}
		for seq := range end - start {
			v := r.embedCtx.SeqEmbedding(seq)
			if v == nil {
				return inference.EmbedResult{}, errors.New("llama.cpp returned no pooled embedding")
			}
			normalize(v)
			res.Vectors = append(res.Vectors, v)
		}
		start = end
	}
	return res, nil
}

// EmbedInputs embeds texts or token arrays with model, batching short inputs into
// shared decodes, and counts the tokens embedded.
func (e *Engine) EmbedInputs(ctx context.Context, req inference.EmbedRequest) (inference.EmbedResult, error) {
	r, err := e.runner(req.Model)
	if err != nil {
		return inference.EmbedResult{}, err
	}
	defer r.users.Done()
	return r.embedInputs(ctx, req)
}
