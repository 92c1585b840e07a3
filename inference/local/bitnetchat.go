package local

import (
	"strings"

	"github.com/aria-node/aria/inference"
)

// BitNetChatTemplate is the chat template name aria uses for Microsoft's BitNet b1.58
// models (architectures bitnet-b1.58 and bitnet-25), whatever template their file
// carries: the 2B-4T format, after BOS,
//
//	System: {content}<|eot_id|>User: {content}<|eot_id|>Assistant: {content}<|eot_id|>...Assistant:
//
// Generation stops on <|eot_id|> (the import records it as the end-of-turn token) or EOS.
const BitNetChatTemplate = "bitnet-b1.58"

// chatTemplateFor returns the template a model of arch is rendered with: the BitNet
// format for Microsoft's architectures, else the file's own template.
func chatTemplateFor(arch, fileTemplate string) string {
	if arch == "bitnet-b1.58" || arch == "bitnet-25" {
		return BitNetChatTemplate
	}
	return fileTemplate
}

var bitnetRoles = map[string]string{"system": "System: ", "user": "User: ", "assistant": "Assistant: "}

// renderBitNetChat renders msgs in the BitNet b1.58 2B-4T chat format, ending with the
// opening of an assistant turn. BOS is added by the tokenizer.
func renderBitNetChat(msgs []inference.Message) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(bitnetRoles[m.Role])
		b.WriteString(m.Content)
		b.WriteString("<|eot_id|>")
	}
	b.WriteString("Assistant: ")
	return b.String()
}
