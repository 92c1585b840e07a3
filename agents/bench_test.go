package agents

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aria-node/aria/providers"
	"github.com/aria-node/aria/providers/upstreamtest"
)

// BenchmarkToolLoop measures whole tool loops against a fast loopback upstream (a real
// HTTP server): each loop is a model turn asking for the calculator, the calculator
// run, and a model turn answering. It prints loops/s and model turns/s.
//
//	go test ./agents -run '^$' -bench ToolLoop -benchtime 3s
func BenchmarkToolLoop(b *testing.B) {
	up := upstreamtest.Start(b)
	reg := providers.NewRegistry()
	c, err := providers.NewClient("up", up.BaseURL(), "", providers.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		b.Fatal(err)
	}
	if err := reg.AddProvider(c, false); err != nil {
		b.Fatal(err)
	}
	if err := reg.AddModel(providers.Model{Name: "m", Provider: "up", Tier: "fast", ContextLength: 8192}); err != nil {
		b.Fatal(err)
	}
	var call providers.ToolCall
	call.ID, call.Type, call.Function.Name, call.Function.Arguments = "c1", "function", "calculator", `{"expression":"`+mortgage+`"}`
	for range b.N {
		up.Enqueue(upstreamtest.Reply{ToolCalls: []providers.ToolCall{call}}, upstreamtest.Reply{Content: "The payment is $2,528.27."})
	}
	model := RegistryModel{Registry: reg}
	req := ModelRequest{Model: "fast", Messages: []Message{{Role: "system", Content: "You are an analyst."}, {Role: "user", Content: "Monthly payment on $400,000 at 6.5% for 30 years?"}}}
	tools := DefaultTools(nil)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		res, err := RunLoop(context.Background(), model, LoopConfig{}, req, tools, nil)
		if err != nil || res.Iterations != 1 {
			b.Fatalf("%+v %v", res, err)
		}
	}
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(b.N)/el, "loops/s")
	b.ReportMetric(float64(2*b.N)/el, "model_turns/s")
}
