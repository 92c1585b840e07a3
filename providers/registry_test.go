package providers_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aria-node/aria/providers"
	"github.com/aria-node/aria/providers/upstreamtest"
)

func TestRegistryTierFallback(t *testing.T) {
	a := upstreamtest.Start(t)
	b := upstreamtest.Start(t)
	reg := providers.NewRegistry()
	for name, up := range map[string]*upstreamtest.Server{"a": a, "b": b} {
		c, err := providers.NewClient(name, up.BaseURL(), "", providers.WithTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.AddProvider(c, false); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []providers.Model{
		{Name: "fast-a", Provider: "a", ModelID: "a-small", Tier: "fast", ContextLength: 8192},
		{Name: "fast-b", Provider: "b", ModelID: "b-small", Tier: "fast"},
	} {
		if err := reg.AddModel(m); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	for _, failure := range []upstreamtest.Reply{{Status: 429, RetryAfter: "3"}, {Status: 503}, {Hang: true}, {Body: "garbage"}} {
		a.Enqueue(failure)
		b.Enqueue(upstreamtest.Reply{Content: "from b"})
		resp, err := reg.Chat(ctx, userTurn("fast", "hi"))
		if err != nil {
			t.Fatalf("%+v: %v", failure, err)
		}
		if resp.Model != "fast-b" || resp.Provider != "b" || resp.ModelID != "b-small" || resp.Message.Content != "from b" {
			t.Fatalf("%+v: served by %+v", failure, resp)
		}
		if len(resp.Failed) != 1 || resp.Failed[0].Model != "fast-a" {
			t.Fatalf("failed attempts %+v", resp.Failed)
		}
	}
	if got := b.ChatRequests(); got[len(got)-1].Model != "b-small" {
		t.Fatalf("b got model %q", got[len(got)-1].Model)
	}
	// Both rate limited: the last one's error surfaces.
	a.Enqueue(upstreamtest.Reply{Status: 429, RetryAfter: "3"})
	b.Enqueue(upstreamtest.Reply{Status: 429, RetryAfter: "9"})
	_, err := reg.ChatStream(ctx, userTurn("fast", "hi"), nil)
	var rl *providers.RateLimitError
	if !errors.As(err, &rl) || rl.Provider != "b" || rl.RetryAfter != 9 {
		t.Fatalf("both limited: %v", err)
	}
	// A stream that has started does not fall back.
	a.Enqueue(upstreamtest.Reply{Endless: true})
	n := 0
	_, err = reg.ChatStream(ctx, userTurn("fast", "hi"), func(providers.Delta) error { n++; return nil })
	if err == nil || n == 0 || len(b.ChatRequests()) != 5 {
		t.Fatalf("started stream fell back: err %v, deltas %d, b requests %d", err, n, len(b.ChatRequests()))
	}
	if reg.ContextLength("fast") != 8192 || reg.ContextLength("fast-b") != 0 {
		t.Fatalf("context lengths %d %d", reg.ContextLength("fast"), reg.ContextLength("fast-b"))
	}
}

func TestRegistryResolve(t *testing.T) {
	up := upstreamtest.Start(t)
	reg := providers.NewRegistry()
	c, _ := providers.NewClient("groq", up.BaseURL(), "")
	loc, _ := providers.NewClient("local", up.BaseURL(), "", providers.WithKind("local"))
	reg.AddProvider(c, false)
	reg.AddProvider(loc, true)
	if err := reg.AddModel(providers.Model{Name: "llama", Provider: "groq", ModelID: "llama-3.1-8b", Tier: "balanced"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []providers.Model{
		{Name: "llama", Provider: "groq"},
		{Name: "x", Provider: "nope"},
		{Name: "fast", Provider: "groq"},
		{Name: "y", Provider: "groq", Tier: "turbo"},
	} {
		if err := reg.AddModel(bad); err == nil {
			t.Errorf("AddModel(%+v) accepted", bad)
		}
	}
	if _, err := reg.Resolve("powerful"); !errors.Is(err, providers.ErrUnknownModel) || !strings.Contains(err.Error(), "tier 'powerful'") {
		t.Fatalf("empty tier: %v", err)
	}
	if _, err := reg.Resolve("whatever"); !errors.Is(err, providers.ErrUnknownModel) {
		t.Fatalf("no default: %v", err)
	}
	reg.SetDefault("local")
	got, err := reg.Resolve("tiny")
	if err != nil || got[0].Provider != "local" || got[0].ModelID != "tiny" {
		t.Fatalf("default: %+v %v", got, err)
	}
	got, err = reg.Resolve("groq/mixtral")
	if err != nil || got[0].Provider != "groq" || got[0].ModelID != "mixtral" {
		t.Fatalf("provider/model: %+v %v", got, err)
	}
	// task_type goes to built-in providers only.
	req := userTurn("llama", "hi")
	req.TaskType = "code_gen"
	reg.Chat(context.Background(), req)
	req.Model = "tiny"
	reg.Chat(context.Background(), req)
	reqs := up.Requests()
	if strings.Contains(string(reqs[0].Body), "task_type") || !strings.Contains(string(reqs[1].Body), `"task_type":"code_gen"`) {
		t.Fatalf("bodies %s / %s", reqs[0].Body, reqs[1].Body)
	}
	ms, err := reg.ListModels(context.Background())
	if err != nil || len(ms) != 3 || ms[0].Name != "llama" || ms[0].Kind != "upstream" || ms[1].Name != "groq/upstream-model" || ms[2].Kind != "local" || ms[2].Name != "upstream-model" {
		t.Fatalf("ListModels %+v %v", ms, err)
	}
}
