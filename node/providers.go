package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/aria-node/aria/ares"
	"github.com/aria-node/aria/openai"
	"github.com/aria-node/aria/providers"
)

// startProviders builds the node's providers registry: the built-in "local" (the
// kernel) and "network" (peers) providers, then the config's providers and models.
//
// The built-ins are OpenAI clients whose transport calls the API's inner handler in
// process (openai.Server.Inner: no platform layer, so nothing is metered twice; the
// caller's context, with its usage sink, reaches the handler). Local tool calls
// (constrained decoding), streaming, peer routing and the consent contract then work
// exactly as for an HTTP client; a request is the owner's only when its context says
// so (providers.WithOwner), else it is remote work under the contract.
func (n *Node) startProviders() error {
	reg := providers.NewRegistry()
	inner := providers.HandlerTransport(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.apiInner == nil {
			http.Error(w, `{"error":{"message":"the node's API is not running","type":"service_unavailable_error","code":"node_unavailable"}}`, http.StatusServiceUnavailable)
			return
		}
		n.apiInner.ServeHTTP(w, r)
	}))
	for _, name := range []string{providers.Local, providers.Network} {
		c, err := providers.NewClient(name, "http://aria.in-process/v1", "", providers.WithTransport(inner), providers.WithKind(name),
			providers.WithTimeout(10*time.Minute), providers.WithLogger(n.log))
		if err != nil {
			return err
		}
		if err := reg.AddProvider(builtinProvider{c}, true); err != nil {
			return err
		}
	}
	reg.SetDefault(providers.Local)
	reg.SetTierDefault("local", func() []providers.Target {
		if n.engine == nil || len(n.engine.Models()) == 0 {
			return nil
		}
		id := n.engine.Models()[0].ID
		return []providers.Target{{Name: id, Provider: providers.Local, ModelID: id}}
	})
	if err := n.cfg.Providers.Apply(reg, os.Getenv, n.log); err != nil {
		return err
	}
	reg.SetUsageHook(func(ctx context.Context, resp *providers.ChatResponse) {
		if sink := openai.UsageSinkFrom(ctx); sink != nil {
			sink.AddUsage(resp.Usage.PromptTokens, resp.Usage.CompletionTokens)
		}
	})
	n.providers = reg
	return nil
}

// Providers is the node's registry: what ARES agents call.
func (n *Node) Providers() *providers.Registry { return n.providers }

// builtinProvider is a built-in client; it does not list models through HTTP (the
// node lists its own and its peers' directly).
type builtinProvider struct{ *providers.Client }

func (b builtinProvider) ListModels(context.Context) ([]providers.ModelInfo, error) { return nil, nil }

// upstream is the node's openai.Upstream: configured models, tiers and provider/model
// names go through the registry; names the node serves itself do not.
type upstream struct{ n *Node }

var _ openai.Upstream = upstream{}

func (u upstream) ServesUpstream(ctx context.Context, model string) bool {
	if providers.InProcess(ctx) {
		return false // a built-in provider's request: the node serves it
	}
	targets, err := u.n.providers.Resolve(model)
	if err != nil {
		return providers.IsTier(model) // an empty tier answers its own clear error
	}
	t := targets[0]
	return len(targets) > 1 || !u.n.providers.IsBuiltin(t.Provider) || t.ModelID != model
}

func (u upstream) UpstreamModels(ctx context.Context) []openai.Model {
	var out []openai.Model
	for _, m := range u.n.providers.Models() {
		out = append(out, openai.Model{ID: m.Name, Object: "model", OwnedBy: m.Provider, Permission: []any{}, Root: m.ModelID,
			Aria: &openai.ModelExtra{ContextLength: m.ContextLength, Remote: m.Kind != providers.Local,
				Note: "served by provider '" + m.Provider + "' as " + m.ModelID}})
	}
	return out
}

func (u upstream) ChatUpstream(ctx context.Context, req *openai.ChatCompletionRequest, remote bool, onDelta func(openai.Delta) error) (*openai.ChatCompletion, error) {
	if !remote {
		ctx = providers.WithOwner(ctx)
	}
	preq := toProviderRequest(req)
	var resp *providers.ChatResponse
	var err error
	if onDelta == nil {
		resp, err = u.n.providers.Chat(ctx, preq)
	} else {
		resp, err = u.n.providers.ChatStream(ctx, preq, func(d providers.Delta) error { return onDelta(toOpenAIDelta(d)) })
	}
	if err != nil {
		return nil, toAPIError(err)
	}
	msg := openai.ResponseMessage{Role: "assistant"}
	if resp.Message.Content != "" || len(resp.Message.ToolCalls) == 0 {
		content := resp.Message.Content
		msg.Content = &content
	}
	for _, tc := range resp.Message.ToolCalls {
		msg.ToolCalls = append(msg.ToolCalls, openai.ToolCall{ID: tc.ID, Type: "function", Function: openai.ToolCallFunction{Name: tc.Function.Name, Arguments: tc.Function.Arguments}})
	}
	id := resp.ID
	if id == "" {
		id = "chatcmpl-aria-up" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	return &openai.ChatCompletion{ID: id, Object: "chat.completion", Created: time.Now().Unix(), Model: req.Model,
		Choices: []openai.Choice{{Index: 0, Message: msg, FinishReason: resp.FinishReason}},
		Usage:   openai.Usage{PromptTokens: resp.Usage.PromptTokens, CompletionTokens: resp.Usage.CompletionTokens, TotalTokens: resp.Usage.TotalTokens}}, nil
}

func toProviderRequest(req *openai.ChatCompletionRequest) providers.ChatRequest {
	out := providers.ChatRequest{Model: req.Model, Temperature: req.Temperature, TopP: req.TopP, Stop: req.Stop, Seed: req.Seed, User: req.User, TaskType: req.TaskType, ParallelToolCalls: req.ParallelToolCalls}
	switch {
	case req.MaxCompletionTokens != nil:
		out.MaxTokens = *req.MaxCompletionTokens
	case req.MaxTokens != nil:
		out.MaxTokens = *req.MaxTokens
	}
	for _, m := range req.Messages {
		pm := providers.Message{Role: m.Role, Content: string(m.Content), Name: m.Name, ToolCallID: m.ToolCallID}
		for _, tc := range m.ToolCalls {
			pm.ToolCalls = append(pm.ToolCalls, providers.ToolCall{ID: tc.ID, Type: "function", Function: providers.ToolCallFunction{Name: tc.Function.Name, Arguments: tc.Function.Arguments}})
		}
		out.Messages = append(out.Messages, pm)
	}
	for _, t := range req.Tools {
		out.Tools = append(out.Tools, providers.Tool{Type: "function", Function: providers.ToolFunction{Name: t.Function.Name, Description: t.Function.Description, Parameters: t.Function.Parameters}})
	}
	if tc := req.ToolChoice; tc != nil {
		if tc.Mode == "function" {
			out.ToolChoice = map[string]any{"type": "function", "function": map[string]string{"name": tc.Function}}
		} else {
			out.ToolChoice = tc.Mode
		}
	}
	if req.ResponseFormat != nil {
		out.ResponseFormat, _ = json.Marshal(req.ResponseFormat)
	}
	return out
}

func toOpenAIDelta(d providers.Delta) openai.Delta {
	out := openai.Delta{Content: d.Content}
	for _, tc := range d.ToolCalls {
		td := openai.ToolCallDelta{Index: tc.Index, ID: tc.ID, Function: &openai.ToolCallFuncDelta{Name: tc.Name, Arguments: tc.Arguments}}
		if tc.ID != "" {
			td.Type = "function"
		}
		out.ToolCalls = append(out.ToolCalls, td)
	}
	return out
}

// toAPIError maps a registry error to the OpenAI shape: an upstream's 429 is a 429
// rate_limit_error with Retry-After, a timeout 504, an unknown model or empty tier
// 404, a built-in provider's own error passes through, anything else is 502.
func toAPIError(err error) error {
	var rl *providers.RateLimitError
	var ue *providers.UpstreamError
	switch {
	case errors.As(err, &rl):
		return &openai.APIError{Status: http.StatusTooManyRequests, Type: openai.TypeRateLimit, Code: "rate_limit_exceeded", Message: rl.Error(), RetryAfter: max(rl.RetryAfter, 1)}
	case errors.Is(err, providers.ErrUnknownModel):
		return &openai.APIError{Status: http.StatusNotFound, Type: openai.TypeInvalidRequest, Code: "model_not_found", Message: err.Error()}
	case errors.As(err, &ue) && ue.Timeout:
		return &openai.APIError{Status: http.StatusGatewayTimeout, Type: openai.TypeServer, Code: "upstream_timeout", Message: "Upstream timeout: " + ue.Error()}
	case errors.As(err, &ue) && (ue.Provider == providers.Local || ue.Provider == providers.Network) && ue.Status != 0 && ue.Code != "":
		return &openai.APIError{Status: ue.Status, Type: ue.Type, Code: ue.Code, Message: ue.Msg, RetryAfter: ue.RetryAfter}
	case errors.Is(err, context.Canceled):
		return &openai.APIError{Status: 499, Type: openai.TypeServer, Code: "cancelled", Message: "request cancelled"}
	}
	return &openai.APIError{Status: http.StatusBadGateway, Type: openai.TypeServer, Code: "upstream_error", Message: "Upstream provider failed: " + err.Error()}
}

// AdminModels lists the node's models for /api/admin/models: its own (local), its
// peers' (network), the configured ones, and what configured upstreams announce.
func (n *Node) AdminModels(ctx context.Context) []ares.AdminModel {
	var out []ares.AdminModel
	seen := map[string]bool{}
	add := func(m ares.AdminModel) {
		if !seen[m.Provider+"\x00"+m.ID] {
			seen[m.Provider+"\x00"+m.ID] = true
			out = append(out, m)
		}
	}
	localTier := ""
	if n.providers != nil {
		if t, err := n.providers.Resolve("local"); err == nil && len(t) > 0 {
			localTier = t[0].ModelID
		}
	}
	if n.engine != nil {
		for _, m := range n.engine.Models() {
			tier := ""
			if m.ID == localTier {
				tier = "local"
			}
			add(ares.AdminModel{ID: m.ID, Provider: providers.Local, ContextLength: m.SlotContext, SupportsTools: true, Kind: "local", ModelID: m.ID, Tier: tier, OwnedBy: "aria"})
		}
	}
	for _, m := range n.RemoteModels() {
		add(ares.AdminModel{ID: m.ID, Provider: providers.Network, Kind: "network", ModelID: m.ID, OwnedBy: "peers"})
	}
	if n.providers == nil {
		return out
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ms, err := n.providers.ListModels(lctx)
	if err != nil {
		n.log.Warn("listing upstream models", "err", err)
	}
	for _, m := range ms {
		add(ares.AdminModel{ID: m.Name, Provider: m.Provider, ContextLength: m.ContextLength, SupportsTools: true, Kind: m.Kind, ModelID: m.ModelID, Tier: m.Tier, OwnedBy: m.OwnedBy})
	}
	return out
}

// Services reports the node's own subsystems for /api/admin/services. They all run
// in this process, so they share its pid.
func (n *Node) Services(ctx context.Context) map[string]ares.Service {
	pid := os.Getpid()
	svc := func(ok bool, port int, detail string) ares.Service {
		s := ares.Service{Status: "stopped", Detail: detail}
		if ok {
			s.Status, s.PID = "running", &pid
		}
		if port > 0 {
			s.Port = &port
		}
		return s
	}
	out := map[string]ares.Service{}
	apiPort := 0
	if n.apiLn != nil {
		apiPort = n.apiLn.Addr().(*net.TCPAddr).Port
	}
	out["aria"] = svc(n.Running(), apiPort, "node "+n.NodeID()+", version "+Version)
	if n.engine != nil {
		var ids []string
		for _, m := range n.engine.Models() {
			ids = append(ids, m.ID)
		}
		k := svc(len(ids) > 0, 0, fmt.Sprintf("llama.cpp kernel in process: %d model(s) %v, %d threads", len(ids), ids, n.engine.Threads()))
		if errs := n.LoadErrors(); len(errs) > 0 {
			k.Status, k.PID = "degraded", &pid
			k.Detail += fmt.Sprintf("; %d model(s) failed to load", len(errs))
		}
		out["kernel"] = k
	}
	peerPort := 0
	if n.wsLn != nil {
		peerPort = n.wsLn.Addr().(*net.TCPAddr).Port
	}
	out["p2p"] = svc(n.host != nil, peerPort, fmt.Sprintf("libp2p peer %s, WebSocket peer protocol at %s, %d model(s) via peers", n.NodeID(), n.NodeURI(), len(n.RemoteModels())))
	if n.admission != nil {
		cs := n.ConsentStatus()
		detail := "accepting remote work"
		if !cs.Accepting && cs.Reason != nil {
			detail = "not accepting remote work: " + cs.Reason.Message
		}
		out["consent"] = svc(true, 0, fmt.Sprintf("%s; %d remote task(s) running", detail, cs.RunningTasks))
	}
	if n.energy != nil {
		out["energy"] = svc(true, 0, "meter: "+n.Energy().Method)
	}
	out["intentions"] = svc(n.intents != nil, 0, "prospective memory in aria.db")
	store := "bbolt (aria.db)"
	if n.cfg.Platform.DatabaseURL != "" {
		store = "postgresql"
	}
	out["storage"] = svc(n.db != nil, 0, "platform store: "+store)
	if n.providers != nil {
		var names []string
		for _, m := range n.providers.Models() {
			names = append(names, m.Name+"@"+m.Provider)
		}
		out["providers"] = svc(true, 0, fmt.Sprintf("built-in local and network; %d configured model(s) %v", len(names), names))
	}
	return out
}
