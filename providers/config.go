package providers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Built-in provider names: the node's own kernel and its peers. Config may not reuse them.
const (
	Local   = "local"
	Network = "network"
)

// Config is the providers part of the node's config file: [[providers]] and [[models]].
type Config struct {
	Providers []ProviderConfig `json:"providers"`
	Models    []Model          `json:"models"`
}

// ProviderConfig is one [[providers]] entry. Kind and Type are synonyms, as are
// APIBase and BaseURL (the ARES docs use both spellings).
type ProviderConfig struct {
	Name           string          `json:"name"`
	Kind           string          `json:"kind"`
	Type           string          `json:"type"`
	APIBase        string          `json:"api_base"`
	BaseURL        string          `json:"base_url"`
	APIKeyEnv      string          `json:"api_key_env"`
	TimeoutSeconds int             `json:"timeout_seconds"`
	Models         []ProviderModel `json:"models"`
}

// ProviderModel is one [[providers.models]] entry: ID is the provider's model id,
// Name what clients ask for (default ID).
type ProviderModel struct {
	ID            string `json:"id"`
	ModelID       string `json:"model_id"`
	Name          string `json:"name"`
	Tier          string `json:"tier"`
	ContextLength int    `json:"context_length"`
}

// ParseConfig reads the "providers" and "models" sections of a config file's JSON
// (the consent package's ReadConfigFile converts TOML); other keys are left to their
// owners. Errors name source and the entry.
func ParseConfig(source string, data []byte) (Config, error) {
	var doc struct {
		Providers json.RawMessage `json:"providers"`
		Models    json.RawMessage `json:"models"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return Config{}, fmt.Errorf("providers: %s: %w", source, err)
	}
	var c Config
	if err := strictDecode(doc.Providers, &c.Providers); err != nil {
		return Config{}, fmt.Errorf("providers: %s: providers: %w", source, err)
	}
	if err := strictDecode(doc.Models, &c.Models); err != nil {
		return Config{}, fmt.Errorf("providers: %s: models: %w", source, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("providers: %s: %w", source, err)
	}
	return c, nil
}

func strictDecode(raw json.RawMessage, v any) error {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// kind is the entry's provider kind ("openai" when unset).
func (p ProviderConfig) kind() string {
	k := strings.ToLower(strings.TrimSpace(p.Kind))
	if k == "" {
		k = strings.ToLower(strings.TrimSpace(p.Type))
	}
	if k == "" {
		k = "openai"
	}
	return k
}

// baseURL is the API base; Ollama's OpenAI-compatible API lives under /v1.
func (p ProviderConfig) baseURL() string {
	u := strings.TrimRight(strings.TrimSpace(p.APIBase), "/")
	if u == "" {
		u = strings.TrimRight(strings.TrimSpace(p.BaseURL), "/")
	}
	if p.kind() == "ollama" && u != "" && !strings.HasSuffix(u, "/v1") {
		u += "/v1"
	}
	return u
}

// Validate checks names, kinds, URLs and references; every problem is reported.
func (c Config) Validate() error {
	var errs []error
	providers := map[string]bool{Local: true, Network: true}
	names := map[string]bool{}
	addName := func(where, name string) {
		switch {
		case name == "":
			errs = append(errs, fmt.Errorf("%s: no name", where))
		case IsTier(name):
			errs = append(errs, fmt.Errorf("%s: name '%s' is a tier's; pick another", where, name))
		case names[name]:
			errs = append(errs, fmt.Errorf("%s: duplicate model name '%s'", where, name))
		}
		names[name] = true
	}
	checkTier := func(where, tier string) {
		if tier != "" && !IsTier(tier) {
			errs = append(errs, fmt.Errorf("%s: unknown tier '%s' (tiers: %s)", where, tier, strings.Join(Tiers, ", ")))
		}
	}
	for i, p := range c.Providers {
		where := fmt.Sprintf("providers[%d] '%s'", i, p.Name)
		switch {
		case p.Name == "":
			errs = append(errs, fmt.Errorf("providers[%d]: no name", i))
		case p.Name == Local || p.Name == Network:
			errs = append(errs, fmt.Errorf("%s: the name is the built-in provider's (the node's %s); pick another", where, map[string]string{Local: "kernel", Network: "peers"}[p.Name]))
		case providers[p.Name]:
			errs = append(errs, fmt.Errorf("%s: duplicate provider name", where))
		}
		providers[p.Name] = true
		if p.Kind != "" && p.Type != "" && !strings.EqualFold(p.Kind, p.Type) {
			errs = append(errs, fmt.Errorf("%s: kind '%s' and type '%s' disagree", where, p.Kind, p.Type))
		}
		if k := p.kind(); k != "openai" && k != "ollama" {
			errs = append(errs, fmt.Errorf("%s: kind '%s' is not supported; aria speaks to OpenAI-compatible APIs (kind \"openai\", or \"ollama\")", where, k))
		}
		if p.APIBase != "" && p.BaseURL != "" && p.APIBase != p.BaseURL {
			errs = append(errs, fmt.Errorf("%s: api_base and base_url disagree", where))
		}
		if u := p.baseURL(); u == "" {
			errs = append(errs, fmt.Errorf("%s: no api_base (or base_url)", where))
		} else if _, err := NewClient(p.Name, u, ""); err != nil {
			errs = append(errs, fmt.Errorf("%s: api_base %q is not an http(s) URL", where, u))
		}
		if p.APIKeyEnv != "" && !validEnvName(p.APIKeyEnv) {
			errs = append(errs, fmt.Errorf("%s: api_key_env %q is not an environment variable name", where, p.APIKeyEnv))
		}
		if p.TimeoutSeconds < 0 {
			errs = append(errs, fmt.Errorf("%s: timeout_seconds must be >= 0", where))
		}
		for j, m := range p.Models {
			mw := fmt.Sprintf("%s models[%d]", where, j)
			if m.ID != "" && m.ModelID != "" && m.ID != m.ModelID {
				errs = append(errs, fmt.Errorf("%s: id and model_id disagree", mw))
			}
			if m.id() == "" {
				errs = append(errs, fmt.Errorf("%s: no id", mw))
				continue
			}
			addName(mw, m.name())
			checkTier(mw, m.Tier)
			if m.ContextLength < 0 {
				errs = append(errs, fmt.Errorf("%s: context_length must be >= 0", mw))
			}
		}
	}
	for i, m := range c.Models {
		where := fmt.Sprintf("models[%d] '%s'", i, m.Name)
		addName(where, m.Name)
		if !providers[m.Provider] {
			errs = append(errs, fmt.Errorf("%s: unknown provider '%s'", where, m.Provider))
		}
		checkTier(where, m.Tier)
		if m.ContextLength < 0 {
			errs = append(errs, fmt.Errorf("%s: context_length must be >= 0", where))
		}
	}
	return errors.Join(errs...)
}

func (m ProviderModel) id() string {
	if m.ID != "" {
		return m.ID
	}
	return m.ModelID
}

func (m ProviderModel) name() string {
	if m.Name != "" {
		return m.Name
	}
	return m.id()
}

func validEnvName(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

// Apply adds the configured providers (as Clients) and models to reg, whose built-in
// providers must be registered already. API keys are read from the environment
// through getenv, only here; a key variable that is named but unset is an error.
func (c Config) Apply(reg *Registry, getenv func(string) string, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	for _, p := range c.Providers {
		key := ""
		if p.APIKeyEnv != "" {
			if key = getenv(p.APIKeyEnv); key == "" {
				return fmt.Errorf("provider '%s': api_key_env %s is not set", p.Name, p.APIKeyEnv)
			}
		}
		opts := []ClientOption{WithLogger(log)}
		if p.TimeoutSeconds > 0 {
			opts = append(opts, WithTimeout(time.Duration(p.TimeoutSeconds)*time.Second))
		}
		cl, err := NewClient(p.Name, p.baseURL(), key, opts...)
		if err != nil {
			return err
		}
		if err := reg.AddProvider(cl, false); err != nil {
			return err
		}
		// The key's variable name is logged, never the key.
		log.Info("provider", "name", p.Name, "api_base", p.baseURL(), "api_key_env", p.APIKeyEnv, "models", len(p.Models))
		for _, m := range p.Models {
			if err := reg.AddModel(Model{Name: m.name(), Provider: p.Name, ModelID: m.id(), Tier: m.Tier, ContextLength: m.ContextLength}); err != nil {
				return err
			}
		}
	}
	for _, m := range c.Models {
		if err := reg.AddModel(m); err != nil {
			return err
		}
	}
	return nil
}
