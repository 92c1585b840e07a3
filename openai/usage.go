package openai

import "context"

// UsageSink receives the tokens each generation of a request consumed. The platform's
// access layer puts one in the request's context to meter it exactly.
type UsageSink interface {
	AddUsage(promptTokens, completionTokens int)
}

type usageSinkKey struct{}

// WithUsageSink returns ctx carrying sink.
func WithUsageSink(ctx context.Context, sink UsageSink) context.Context {
	return context.WithValue(ctx, usageSinkKey{}, sink)
}

func usageSinkFrom(ctx context.Context) UsageSink {
	s, _ := ctx.Value(usageSinkKey{}).(UsageSink)
	return s
}

// UsageSinkFrom is the sink in ctx, or nil: the node's providers meter the turns of
// upstream providers with it.
func UsageSinkFrom(ctx context.Context) UsageSink { return usageSinkFrom(ctx) }
