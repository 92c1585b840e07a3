package providers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
)

// Tiers are the ARES model tiers, in the order admin listings show them.
var Tiers = []string{"fast", "balanced", "powerful", "deepseek", "local"}

// IsTier reports whether name is a tier.
func IsTier(name string) bool { return slices.Contains(Tiers, name) }

// Model is one configured model: Name is what clients ask for, ModelID what the
// provider calls it.
type Model struct {
	Name          string `json:"name" toml:"name"`
	Provider      string `json:"provider" toml:"provider"`
	ModelID       string `json:"model_id" toml:"model_id"`
	Tier          string `json:"tier,omitempty" toml:"tier"`
	ContextLength int    `json:"context_length,omitempty" toml:"context_length"`
}

// Target is one model a name resolves to, in fallback order.
type Target struct {
	Name     string
	Provider string
	ModelID  string
}

// Registry holds the providers and models and routes chat turns. It is safe for
// concurrent use.
type Registry struct {
	mu        sync.RWMutex
	providers map[string]Provider
	builtin   map[string]bool // providers that understand aria's extensions (task_type)
	order     []string        // providers in registration order
	models    []Model         // in configuration order (a tier's fallback order)
	byName    map[string]int
	def       string // provider for names nobody configured ("" = none)
	log       *slog.Logger
	usage     func(context.Context, *ChatResponse)
	tierDef   map[string]func() []Target
}

// SetTierDefault gives tier the models fn returns when no configured model has the
// tier (a node: tier "local" is its own first model).
func (r *Registry) SetTierDefault(tier string, fn func() []Target) {
	r.mu.Lock()
	if r.tierDef == nil {
		r.tierDef = map[string]func() []Target{}
	}
	r.tierDef[tier] = fn
	r.mu.Unlock()
}

// IsBuiltin reports whether provider is one of the node's own.
func (r *Registry) IsBuiltin(provider string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.builtin[provider]
}

// SetUsageHook sets what the registry calls with every turn an upstream (not a
// built-in provider) served, to meter it: the upstream's usage, or for a stream cut
// short after it began (the client went away, the upstream failed), an estimate of
// what was delivered. Built-in providers meter themselves: their in-process handler
// sees the same context.
func (r *Registry) SetUsageHook(fn func(ctx context.Context, resp *ChatResponse)) {
	r.mu.Lock()
	r.usage = fn
	r.mu.Unlock()
}

// NewRegistry makes an empty registry.
func NewRegistry() *Registry {
	return &Registry{providers: map[string]Provider{}, builtin: map[string]bool{}, byName: map[string]int{}, log: slog.Default()}
}

// AddProvider registers p under p.Name(). builtin marks the node's own providers,
// which receive aria's request extensions.
func (r *Registry) AddProvider(p Provider, builtin bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	name := p.Name()
	if name == "" {
		return errors.New("provider has no name")
	}
	if _, dup := r.providers[name]; dup {
		return fmt.Errorf("duplicate provider '%s'", name)
	}
	r.providers[name], r.builtin[name] = p, builtin
	r.order = append(r.order, name)
	return nil
}

// SetDefault routes names that no model or tier declares to provider name (a node
// sets its "local" provider, which serves its own models and routes to peers).
func (r *Registry) SetDefault(provider string) {
	r.mu.Lock()
	r.def = provider
	r.mu.Unlock()
}

// AddModel registers a model. Its provider must be registered; its name must be new
// and may not be a tier's.
func (r *Registry) AddModel(m Model) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case m.Name == "":
		return errors.New("model has no name")
	case IsTier(m.Name):
		return fmt.Errorf("model '%s': the name is a tier's", m.Name)
	case m.Tier != "" && !IsTier(m.Tier):
		return fmt.Errorf("model '%s': unknown tier '%s' (tiers: %v)", m.Name, m.Tier, Tiers)
	}
	if _, ok := r.providers[m.Provider]; !ok {
		return fmt.Errorf("model '%s': unknown provider '%s'", m.Name, m.Provider)
	}
	if _, dup := r.byName[m.Name]; dup {
		return fmt.Errorf("duplicate model '%s'", m.Name)
	}
	if m.ModelID == "" {
		m.ModelID = m.Name
	}
	r.byName[m.Name] = len(r.models)
	r.models = append(r.models, m)
	return nil
}

// HasTier reports whether a model is configured for tier.
func (r *Registry) HasTier(tier string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, m := range r.models {
		if m.Tier == tier {
			return true
		}
	}
	return false
}

// Provider returns a registered provider.
func (r *Registry) Provider(name string) (Provider, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, ok := r.providers[name]
	return p, ok
}

// Resolve maps a name to the models that serve it, in fallback order: a tier's
// models in configuration order; a configured model; "provider/model_id" for a
// registered provider; else the default provider with the name as its model id.
func (r *Registry) Resolve(name string) ([]Target, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if IsTier(name) {
		var out []Target
		for _, m := range r.models {
			if m.Tier == name {
				out = append(out, Target{Name: m.Name, Provider: m.Provider, ModelID: m.ModelID})
			}
		}
		if len(out) == 0 && r.tierDef[name] != nil {
			out = r.tierDef[name]()
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%w: no model is configured for tier '%s'", ErrUnknownModel, name)
		}
		return out, nil
	}
	if i, ok := r.byName[name]; ok {
		m := r.models[i]
		return []Target{{Name: m.Name, Provider: m.Provider, ModelID: m.ModelID}}, nil
	}
	for _, p := range r.order {
		if len(name) > len(p)+1 && name[:len(p)] == p && name[len(p)] == '/' {
			return []Target{{Name: name, Provider: p, ModelID: name[len(p)+1:]}}, nil
		}
	}
	if r.def != "" && name != "" {
		return []Target{{Name: name, Provider: r.def, ModelID: name}}, nil
	}
	return nil, fmt.Errorf("%w: '%s'", ErrUnknownModel, name)
}

// Chat serves one turn, falling back along the resolved models.
func (r *Registry) Chat(ctx context.Context, req ChatRequest) (*ChatResponse, error) {
	return r.run(ctx, req, nil)
}

// ChatStream serves one streamed turn. It falls back to the next model only while
// nothing has been streamed to fn; after the first delta an error ends the turn.
func (r *Registry) ChatStream(ctx context.Context, req ChatRequest, fn func(Delta) error) (*ChatResponse, error) {
	if fn == nil {
		fn = func(Delta) error { return nil }
	}
	return r.run(ctx, req, fn)
}

func (r *Registry) run(ctx context.Context, req ChatRequest, fn func(Delta) error) (*ChatResponse, error) {
	targets, err := r.Resolve(req.Model)
	if err != nil {
		return nil, err
	}
	var failed []FailedAttempt
	var lastErr error
	for i, t := range targets {
		p, builtin := r.lookup(t.Provider)
		if p == nil {
			return nil, fmt.Errorf("%w: provider '%s' of model '%s' is gone", ErrUnknownModel, t.Provider, t.Name)
		}
		preq := req
		preq.Model = t.ModelID
		if !builtin {
			preq.TaskType = ""
		}
		var resp *ChatResponse
		streamed := false
		var delivered Message
		if fn != nil {
			resp, err = p.ChatStream(ctx, preq, func(d Delta) error {
				streamed = true
				delivered.Content += d.Content
				for _, tc := range d.ToolCalls {
					delivered.Content += tc.Name + tc.Arguments
				}
				return fn(d)
			})
		} else {
			resp, err = p.Chat(ctx, preq)
		}
		hook := r.usageHook(builtin)
		if err == nil {
			resp.Model, resp.Provider, resp.Failed = t.Name, t.Provider, failed
			if resp.ModelID == "" {
				resp.ModelID = t.ModelID
			}
			if hook != nil {
				hook(ctx, resp)
			}
			return resp, nil
		}
		if streamed && hook != nil {
			hook(ctx, &ChatResponse{Model: t.Name, ModelID: t.ModelID, Provider: t.Provider, Message: delivered,
				Usage: estimateUsage(preq, delivered), UsageEstimated: true, Failed: failed})
		}
		lastErr = err
		if streamed || ctx.Err() != nil || !fallbackable(err) || i == len(targets)-1 {
			break
		}
		r.log.Warn("provider failed, falling back", "model", t.Name, "provider", t.Provider, "next", targets[i+1].Name, "err", err)
		failed = append(failed, FailedAttempt{Model: t.Name, Provider: t.Provider, Error: err.Error()})
	}
	return nil, lastErr
}

// fallbackable: rate limits, timeouts and upstream failures move to the next model;
// the caller's own errors (from the delta callback, cancellation) do not.
func fallbackable(err error) bool {
	var rl *RateLimitError
	var ue *UpstreamError
	return errors.As(err, &rl) || errors.As(err, &ue) || errors.Is(err, ErrUnknownModel)
}

func (r *Registry) usageHook(builtin bool) func(context.Context, *ChatResponse) {
	if builtin {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.usage
}

func (r *Registry) lookup(name string) (Provider, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.providers[name], r.builtin[name]
}

// Models lists the configured models, in configuration order.
func (r *Registry) Models() []ModelInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]ModelInfo, 0, len(r.models))
	for _, m := range r.models {
		out = append(out, r.info(m))
	}
	return out
}

func (r *Registry) info(m Model) ModelInfo {
	kind := "upstream"
	if r.builtin[m.Provider] {
		kind = m.Provider
	}
	return ModelInfo{Name: m.Name, Provider: m.Provider, ModelID: m.ModelID, Tier: m.Tier, ContextLength: m.ContextLength, Kind: kind, OwnedBy: m.Provider}
}

// ListModels lists the configured models, then what each ModelLister provider
// announces that is not configured already (named "provider/model_id", except the
// default provider's, which are asked for by their own name). Providers that fail to answer are skipped
// and logged; the error joins their errors.
func (r *Registry) ListModels(ctx context.Context) ([]ModelInfo, error) {
	out := r.Models()
	seen := map[string]bool{}
	for _, m := range out {
		seen[m.Provider+"\x00"+m.ModelID] = true
	}
	r.mu.RLock()
	var listers []ModelLister
	def := r.def
	for _, name := range r.order {
		if l, ok := r.providers[name].(ModelLister); ok {
			listers = append(listers, l)
		}
	}
	r.mu.RUnlock()
	var errs []error
	for _, l := range listers {
		ms, err := l.ListModels(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, m := range ms {
			if !seen[m.Provider+"\x00"+m.ModelID] {
				seen[m.Provider+"\x00"+m.ModelID] = true
				if m.Provider != def {
					m.Name = m.Provider + "/" + m.ModelID // what Resolve routes to it
				}
				out = append(out, m)
			}
		}
	}
	return out, errors.Join(errs...)
}

// ContextLength is the configured context length of a model (a tier: its first
// model's), 0 when not configured.
func (r *Registry) ContextLength(name string) int {
	targets, err := r.Resolve(name)
	if err != nil || len(targets) == 0 {
		return 0
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if i, ok := r.byName[targets[0].Name]; ok {
		return r.models[i].ContextLength
	}
	return 0
}
