// Package vocab owns the byte-level BPE vocabulary the project generates for
// synthetic models, and a reference encoder for it.
//
// The vocabulary is GPT-2 style, the form llama.cpp loads with
// tokenizer.ggml.model = "gpt2" and tokenizer.ggml.pre = "gpt-2": token
// strings and merges are written in GPT-2's byte-to-unicode form, ids 0..255
// are the single bytes, every other normal token is produced by exactly one
// merge, and merges are listed in rank order. No model hub is reachable, so
// the merges are learned from a small English corpus embedded in the package
// and, for large sizes, padded with deterministic filler merges.
package vocab

import (
	"fmt"
	"sync/atomic"
)

// Token types as llama.cpp reads tokenizer.ggml.token_type.
const (
	TypeNormal  int32 = 1
	TypeControl int32 = 3
)

// Special token texts. llama.cpp recognises these by text as end-of-
// generation tokens, and "<|im_start|>"/"<|im_end|>" make chatml templates
// work.
const (
	EndOfText = "<|endoftext|>"
	IMStart   = "<|im_start|>"
	IMEnd     = "<|im_end|>"
)

// specialTexts are the last ids of every vocabulary, in this order.
var specialTexts = [...]string{EndOfText, IMStart, IMEnd}

// Size limits for Generate. Below MinSize there is hardly room for merges;
// MaxSize keeps ids far inside int32 and generation time bounded (real
// vocabularies stop around 256k).
const (
	MinSize = 512
	MaxSize = 1 << 20
)

// Vocab is a byte-level BPE vocabulary. Treat it as immutable once Encode or
// Decode has been called: both build a lookup index on first use and keep
// it.
type Vocab struct {
	Tokens []string // token text in GPT-2 byte-to-unicode form (" the" is "Ġthe"), index = token id
	Types  []int32  // llama.cpp token types: TypeNormal, or TypeControl for specials
	Merges []string // "left right" in the same encoded form, in rank order

	BOS, EOS, EOT, PAD int32 // ids of special tokens

	index atomic.Pointer[index] // built lazily by Encode/Decode
}

// Generate returns a vocabulary of exactly size tokens. The result depends
// only on size: the same size gives the same vocabulary, byte for byte, and
// a smaller vocabulary's merges are a prefix of a larger one's.
//
// Layout: ids 0..255 are the bytes; then merges learned from the embedded
// corpus, most frequent first; then filler merges; the last three ids are
// <|endoftext|> (BOS and PAD), <|im_start|> and <|im_end|> (EOS and EOT, so
// chatml turns end generation).
func Generate(size int) (*Vocab, error) {
	if size < MinSize || size > MaxSize {
		return nil, fmt.Errorf("vocab: size %d outside [%d, %d]", size, MinSize, MaxSize)
	}
	tr := trainOnce()
	nNormal := size - len(specialTexts)

	v := &Vocab{
		Tokens: make([]string, 0, size),
		Types:  make([]int32, size),
		Merges: make([]string, 0, nNormal-256),
	}
	nLearned := min(len(tr.merges), nNormal-256)
	v.Tokens = append(v.Tokens, tr.tokens[:256+nLearned]...)
	for _, m := range tr.merges[:nLearned] {
		v.Merges = append(v.Merges, tr.tokens[m[0]]+" "+tr.tokens[m[1]])
	}
	if len(v.Tokens) < nNormal {
		if err := addFillers(v, tr, nNormal); err != nil {
			return nil, err
		}
	}

	for i := range v.Types {
		v.Types[i] = TypeNormal
	}
	for i, s := range specialTexts {
		v.Tokens = append(v.Tokens, s)
		v.Types[nNormal+i] = TypeControl
	}
	eot, imEnd := int32(nNormal), int32(nNormal+2)
	v.BOS, v.PAD = eot, eot
	v.EOS, v.EOT = imEnd, imEnd
	return v, nil
}

// addFillers appends merges until v has want normal tokens. Each filler
// joins two existing tokens into a string not yet in the vocabulary, so the
// invariants of learned merges (one merge per token, parts created at a lower
// rank) hold for fillers too.
//
// Candidates are enumerated over a pool of building blocks: the learned
// tokens in rank order (earlier merges are the more frequent pieces), then
// the bytes seen in the corpus, most frequent first. Pairs (i, j) are walked
// by increasing i+j so fillers combine the most frequent pieces first, and a
// candidate is kept only if its bytes form a single GPT-2 pre-token: a token
// spanning a pre-token boundary (" the the") could never be produced by
// encoding and would be dead weight in the model. Should the pool run out
// (only for sizes far beyond what the corpus covers), the fillers themselves
// and all bytes join the pool, and if even that adds nothing the pre-token
// rule is dropped.
func addFillers(v *Vocab, tr *trained, want int) error {
	known := make(map[string]bool, want+len(specialTexts))
	for _, t := range v.Tokens {
		known[t] = true
	}
	for _, s := range specialTexts {
		known[s] = true
	}
	raw := make([]string, len(v.Tokens), want)
	for i, t := range v.Tokens {
		raw[i] = decodeToken(t)
	}

	pool := make([]int32, 0, len(v.Tokens))
	for id := 256; id < len(v.Tokens); id++ {
		pool = append(pool, int32(id))
	}
	pool = append(pool, tr.byteOrder...)
	inPool := make([]bool, len(v.Tokens), want)
	for _, id := range pool {
		inPool[id] = true
	}

	singleWordOnly := true
	for len(v.Tokens) < want {
		before := len(v.Tokens)
		n := len(pool)
		for s := 0; s <= 2*(n-1) && len(v.Tokens) < want; s++ {
			for i := max(0, s-n+1); i <= min(s, n-1) && len(v.Tokens) < want; i++ {
				l, r := pool[i], pool[s-i]
				text := v.Tokens[l] + v.Tokens[r]
				if known[text] {
					continue
				}
				rawText := raw[l] + raw[r]
				if singleWordOnly && !isSingleWord(rawText) {
					continue
				}
				known[text] = true
				v.Tokens = append(v.Tokens, text)
				v.Merges = append(v.Merges, v.Tokens[l]+" "+v.Tokens[r])
				raw = append(raw, rawText)
				inPool = append(inPool, false)
			}
		}
		if len(v.Tokens) >= want {
			break
		}
		if len(v.Tokens) == before {
			if !singleWordOnly {
				return fmt.Errorf("vocab: filler enumeration stalled at %d tokens", before)
			}
			singleWordOnly = false
		}
		// Widen the pool: every byte, then the fillers made so far.
		for id := range int32(len(v.Tokens)) {
			if !inPool[id] {
				inPool[id] = true
				pool = append(pool, id)
			}
		}
	}
	return nil
}

// isSingleWord reports whether the GPT-2 pre-tokenizer keeps s in one piece.
func isSingleWord(s string) bool {
	pieces := 0
	pretokenize(s, func(string) { pieces++ })
	return pieces == 1
}
