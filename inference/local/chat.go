package local

import (
	"errors"
	"log/slog"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/inference/llamacpp"
)

// DefaultChatTemplate is used when a model has no chat template, or one llama.cpp does
// not recognise: ChatML, i.e.
//
//	<|im_start|>system\n{content}<|im_end|>\n<|im_start|>user\n{content}<|im_end|>\n<|im_start|>assistant\n
//
// Synthetic models carry exactly this template and its control tokens.
const DefaultChatTemplate = "chatml"

// renderChat renders msgs with tmpl (a model's tokenizer.chat_template, or a template
// name llama.cpp knows), ending with the opening of an assistant turn. A template
// llama.cpp cannot recognise falls back to DefaultChatTemplate.
func renderChat(tmpl string, msgs []inference.Message) (string, error) {
	if tmpl == BitNetChatTemplate {
		return renderBitNetChat(msgs), nil
	}
	cm := make([]llamacpp.ChatMessage, len(msgs))
	for i, m := range msgs {
		cm[i] = llamacpp.ChatMessage{Role: m.Role, Content: m.Content}
	}
	if tmpl != "" {
		out, err := llamacpp.ApplyChatTemplate(tmpl, cm, true)
		if err == nil {
			return out, nil
		}
		if !errors.Is(err, llamacpp.ErrUnknownTemplate) {
			return "", err
		}
		slog.Debug("chat template not recognised, using the default", "default", DefaultChatTemplate)
	}
	return llamacpp.ApplyChatTemplate(DefaultChatTemplate, cm, true)
}
