package node

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aria-node/aria/providers"
	"github.com/aria-node/aria/providers/upstreamtest"
)

// BenchmarkProviderOverhead measures what the providers layer adds to a streamed chat
// turn, next to calling the provider directly: time to first token and decode speed
// (tokens or chunks a second after the first), median of reps runs each.
//
//	kernel direct        POST /v1/chat/completions, model aria-tiny-1bit (the node's own handler)
//	kernel via tier      POST /v1/chat/completions, model "local" (registry + in-process built-in provider)
//	kernel via registry  Registry.ChatStream("local") in process (the agents' path)
//	upstream direct      providers.Client streaming from a loopback upstream (64 chunks, one per 2 ms)
//	upstream via node    POST /v1/chat/completions, model "big" (platform + registry + client + upstream)
//
//	eval "$(make -s env)"; go test -run '^$' -bench ProviderOverhead -benchtime 1x ./node/
func BenchmarkProviderOverhead(b *testing.B) {
	up := upstreamtest.Start(b)
	words := make([]string, 64)
	for i := range words {
		words[i] = fmt.Sprintf("w%d", i)
	}
	// The upstream streams 64 chunks, one every 2 ms (500 chunks/s, a fast hosted model).
	up.SetDefault(upstreamtest.Reply{Content: strings.Join(words, " "), ChunkDelay: 2 * time.Millisecond})
	n, srv := providersNode(b, up, nil)
	const reps, maxTokens = 7, 64
	direct, err := providers.NewClient("up", up.BaseURL(), "")
	if err != nil {
		b.Fatal(err)
	}
	body := func(model string) string {
		return `{"model":"` + model + `","max_tokens":64,"temperature":0,"stream":true,"messages":[{"role":"user","content":"Tell me a long story about the sea"}]}`
	}
	viaHTTP := func(model string) func() (time.Duration, int, time.Duration) {
		return func() (time.Duration, int, time.Duration) { return streamHTTP(b, srv.URL, body(model)) }
	}
	viaClient := func(call func(context.Context, providers.ChatRequest, func(providers.Delta) error) (*providers.ChatResponse, error), model string) func() (time.Duration, int, time.Duration) {
		return func() (time.Duration, int, time.Duration) {
			zero := 0.0
			req := providers.ChatRequest{Model: model, MaxTokens: maxTokens, Temperature: &zero, Messages: []providers.Message{{Role: "user", Content: "Tell me a long story about the sea"}}}
			start := time.Now()
			var first time.Time
			count := 0
			if _, err := call(providers.WithOwner(b.Context()), req, func(d providers.Delta) error {
				if d.Content != "" {
					if count == 0 {
						first = time.Now()
					}
					count++
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			return first.Sub(start), count, time.Since(first)
		}
	}
	paths := []struct {
		name string
		run  func() (time.Duration, int, time.Duration)
	}{
		{"kernel direct", viaHTTP(tinyModel)},
		{"kernel via tier", viaHTTP("local")},
		{"kernel via registry", viaClient(n.Providers().ChatStream, "local")},
		{"upstream direct", viaClient(direct.ChatStream, "up-large")},
		{"upstream via node", viaHTTP("big")},
	}
	for range b.N {
		fmt.Printf("%-20s %10s %10s %8s\n", "path", "ttft_ms", "tok/s", "tokens")
		for _, p := range paths {
			p.run() // warm
			var ttfts []float64
			var rates []float64
			tokens := 0
			for range reps {
				ttft, count, total := p.run()
				ttfts = append(ttfts, float64(ttft.Microseconds())/1000)
				if count > 1 {
					rates = append(rates, float64(count-1)/total.Seconds())
				}
				tokens = count
			}
			slices.Sort(ttfts)
			slices.Sort(rates)
			rate := 0.0
			if len(rates) > 0 {
				rate = rates[len(rates)/2]
			}
			fmt.Printf("%-20s %10.2f %10.0f %8d\n", p.name, ttfts[len(ttfts)/2], rate, tokens)
			b.ReportMetric(ttfts[len(ttfts)/2], strings.ReplaceAll(p.name, " ", "_")+"_ttft_ms")
		}
	}
}

// streamHTTP posts a streamed chat and returns the time to the first content chunk,
// the number of content chunks and the time from the first to the end.
func streamHTTP(b *testing.B, base, body string) (time.Duration, int, time.Duration) {
	req, _ := http.NewRequestWithContext(b.Context(), "POST", base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("HTTP %d", resp.StatusCode)
	}
	var first time.Time
	count := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "data: {") && strings.Contains(line, `"content":"`) && !strings.Contains(line, `"content":""`) {
			if count == 0 {
				first = time.Now()
			}
			count++
		}
	}
	return first.Sub(start), count, time.Since(first)
}
