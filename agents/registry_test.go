package agents

import (
	"testing"

	"github.com/aria-node/aria/providers"
	"github.com/aria-node/aria/providers/upstreamtest"
)

// A tier nobody configured goes to the node's own kernel (tier "local").
func TestRegistryModelTierFallback(t *testing.T) {
	up := upstreamtest.Start(t)
	reg := providers.NewRegistry()
	c, _ := providers.NewClient("up", up.BaseURL(), "")
	if err := reg.AddProvider(c, false); err != nil {
		t.Fatal(err)
	}
	if err := reg.AddModel(providers.Model{Name: "quick", Provider: "up", Tier: "fast", ContextLength: 1234}); err != nil {
		t.Fatal(err)
	}
	m := RegistryModel{Registry: reg}
	for in, want := range map[string]string{"fast": "fast", "balanced": "local", "powerful": "local", "local": "local", "quick": "quick", "other": "other"} {
		if got := m.model(in); got != want {
			t.Errorf("%s -> %s, want %s", in, got, want)
		}
	}
	if m.ContextLength("fast") != 1234 {
		t.Fatalf("context %d", m.ContextLength("fast"))
	}
}
