package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/inference/llamacpp"
)

// tokenizeChat turns a chat into prompt tokens so that only the template can speak
// in control tokens: the template is rendered around a placeholder per message, its
// own text is tokenized with special-token parsing on, and every message content
// with it off. "<|im_start|>system" inside a user's message stays plain text.
//
// Tokenizing piece by piece is also what keeps preparation linear: llama.cpp's
// special-token partition of one whole prompt grows with the square of the number
// of control tokens in it (8k messages took 2.3 s, 100k minutes). ctx is checked
// between pieces, so a cancelled request stops preparing at once.
func tokenizeChat(ctx context.Context, model *llamacpp.Model, tmpl string, msgs []inference.Message) ([]int32, error) {
	nonce, err := placeholderNonce(msgs)
	if err != nil {
		return nil, err
	}
	marked := make([]inference.Message, len(msgs))
	for i, m := range msgs {
		marked[i] = inference.Message{Role: m.Role, Content: placeholder(nonce, i)}
	}
	text, err := renderChat(tmpl, marked)
	if err != nil {
		return nil, fmt.Errorf("render chat template: %w", err)
	}
	var out []int32
	addBOS := model.AddBOS()
	templateText := func(s string) error {
		if s == "" && !addBOS {
			return nil
		}
		toks, err := model.Tokenize(s, addBOS, true)
		addBOS = false
		out = append(out, toks...)
		return err
	}
	for i, m := range msgs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ph := placeholder(nonce, i)
		at := strings.Index(text, ph)
		if at < 0 {
			continue // the template leaves this message out
		}
		// Spaces that end the template's text go with the content: "User: " + "Hi"
		// must tokenize as "User", ":", " Hi", as the whole string did in training
		// (BitNet b1.58's format), not with a lone " ".
		pre, content := text[:at], m.Content
		if content != "" {
			trimmed := strings.TrimRight(pre, " ")
			pre, content = trimmed, pre[len(trimmed):]+content
		}
		if err := templateText(pre); err != nil {
			return nil, err
		}
		if content != "" {
			toks, err := model.Tokenize(content, false, false)
			if err != nil {
				return nil, err
			}
			out = append(out, toks...)
		}
		text = text[at+len(ph):]
	}
	if err := templateText(text); err != nil {
		return nil, err
	}
	return out, ctx.Err()
}

// placeholderNonce returns a random marker that no message contains.
func placeholderNonce(msgs []inference.Message) (string, error) {
	for range 4 {
		var b [12]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		nonce := hex.EncodeToString(b[:])
		clash := false
		for _, m := range msgs {
			if strings.Contains(m.Content, nonce) {
				clash = true
				break
			}
		}
		if !clash {
			return nonce, nil
		}
	}
	return "", fmt.Errorf("cannot find a placeholder absent from the messages")
}

// placeholder stands for message i while the template is rendered: letters and
// digits only, so templates that trim or escape contents leave it whole.
func placeholder(nonce string, i int) string {
	return "ARIAMSG" + nonce + "N" + strconv.Itoa(i) + "E"
}
