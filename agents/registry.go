package agents

import (
	"context"

	"github.com/aria-node/aria/providers"
)

// RegistryModel is the providers registry as the Model agents call: tiers and
// configured names resolve there, with its fallback.
type RegistryModel struct{ Registry *providers.Registry }

// model is the name to ask the registry for: a tier without a configured model falls
// back to tier "local", the node's own kernel, so the built-in agents work on a node
// with no upstream configured.
func (m RegistryModel) model(name string) string {
	if providers.IsTier(name) && name != "local" && !m.Registry.HasTier(name) {
		return "local"
	}
	return name
}

func toProviderRequest(req ModelRequest) providers.ChatRequest {
	// No task_type: "chat" is not a consent task type; the node classifies the text.
	out := providers.ChatRequest{Model: req.Model, MaxTokens: req.MaxTokens}
	for _, m := range req.Messages {
		pm := providers.Message{Role: m.Role, Content: m.Content, Name: m.Name, ToolCallID: m.ToolCallID}
		for _, c := range m.ToolCalls {
			pm.ToolCalls = append(pm.ToolCalls, providers.ToolCall{ID: c.ID, Type: "function",
				Function: providers.ToolCallFunction{Name: c.Function.Name, Arguments: c.Function.Arguments}})
		}
		out.Messages = append(out.Messages, pm)
	}
	for _, t := range req.Tools {
		out.Tools = append(out.Tools, providers.Tool{Type: "function", Function: providers.ToolFunction{
			Name: t.Function.Name, Description: t.Function.Description, Parameters: t.Function.Parameters}})
	}
	if req.ToolChoice != "" {
		out.ToolChoice = req.ToolChoice
	}
	return out
}

func fromProviderResponse(r *providers.ChatResponse) ModelResponse {
	if r == nil {
		return ModelResponse{}
	}
	out := ModelResponse{Model: r.Model, FinishReason: r.FinishReason, PromptTokens: r.Usage.PromptTokens, CompletionTokens: r.Usage.CompletionTokens,
		Message: Message{Role: "assistant", Content: r.Message.Content}}
	for _, c := range r.Message.ToolCalls {
		var tc ToolCall
		tc.ID, tc.Type, tc.Function.Name, tc.Function.Arguments = c.ID, "function", c.Function.Name, c.Function.Arguments
		out.Message.ToolCalls = append(out.Message.ToolCalls, tc)
	}
	return out
}

func (m RegistryModel) Chat(ctx context.Context, req ModelRequest) (ModelResponse, error) {
	req.Model = m.model(req.Model)
	r, err := m.Registry.Chat(ctx, toProviderRequest(req))
	return fromProviderResponse(r), err
}

// ChatStream streams a turn. A stream cut short (the client went away, the upstream
// failed) reports an estimate of what was consumed, about 4 bytes a token, so it is
// still metered.
func (m RegistryModel) ChatStream(ctx context.Context, req ModelRequest, onDelta func(string) error) (ModelResponse, error) {
	req.Model = m.model(req.Model)
	delivered := 0
	r, err := m.Registry.ChatStream(ctx, toProviderRequest(req), func(d providers.Delta) error {
		delivered += len(d.Content)
		for _, c := range d.ToolCalls {
			delivered += len(c.Name) + len(c.Arguments)
		}
		if d.Content == "" {
			return nil
		}
		return onDelta(d.Content)
	})
	out := fromProviderResponse(r)
	if err != nil && r == nil && delivered > 0 {
		out.PromptTokens = estimateTokens(req.Messages)
		out.CompletionTokens = (delivered + 3) / 4
	}
	return out, err
}

func (m RegistryModel) ContextLength(model string) int {
	return m.Registry.ContextLength(m.model(model))
}
