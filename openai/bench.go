package openai

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// StreamBench is one streamed chat completion measured by a client.
type StreamBench struct {
	TTFT       time.Duration // request sent → first content chunk
	Tokens     int           // usage.completion_tokens
	DecodeTokS float64       // (tokens-1) / (first content chunk → [DONE])
	// Chunks are the arrival times of the content chunks, for rates that do not move
	// when another process takes the cores for a moment (median interval).
	Chunks     []time.Time
	first, end time.Time
}

// BenchStream sends one streamed chat completion (greedy, seeded) to baseURL and times it.
func BenchStream(ctx context.Context, client *http.Client, baseURL, model, prompt string, maxTokens int) (StreamBench, error) {
	body, _ := json.Marshal(map[string]any{
		"model": model, "max_tokens": maxTokens, "temperature": 0, "seed": 1, "stream": true,
		"stream_options": map[string]bool{"include_usage": true},
		"messages":       []map[string]string{{"role": "user", "content": prompt}},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		return StreamBench{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return StreamBench{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return StreamBench{}, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	var b StreamBench
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		data, ok := bytes.CutPrefix(line, []byte("data: "))
		if !ok {
			continue
		}
		if bytes.Equal(data, []byte("[DONE]")) {
			b.end = time.Now()
			break
		}
		var c ChatCompletionChunk
		if err := json.Unmarshal(data, &c); err != nil {
			return b, fmt.Errorf("bad chunk %q: %w", data, err)
		}
		if c.Usage != nil {
			b.Tokens = c.Usage.CompletionTokens
		}
		if len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
			now := time.Now()
			if b.first.IsZero() {
				b.first = now
				b.TTFT = b.first.Sub(start)
			}
			b.Chunks = append(b.Chunks, now)
		}
	}
	if err := sc.Err(); err != nil {
		return b, err
	}
	if b.end.IsZero() || b.first.IsZero() {
		return b, fmt.Errorf("stream ended early")
	}
	if b.Tokens > 1 {
		b.DecodeTokS = float64(b.Tokens-1) / b.end.Sub(b.first).Seconds()
	}
	return b, nil
}

// ParallelBench is the aggregate of concurrent streams.
type ParallelBench struct {
	Streams       int
	Tokens        int
	AggregateTokS float64
	MedianTTFT    time.Duration
}

// BenchParallel runs n concurrent streams and reports aggregate decode throughput:
// tokens after each stream's first, over the span from the first stream's first token
// to the last stream's end.
func BenchParallel(ctx context.Context, client *http.Client, baseURL, model string, n, maxTokens int) (ParallelBench, error) {
	res := make([]StreamBench, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = BenchStream(ctx, client, baseURL, model, fmt.Sprintf("Parallel stream %d: tell me about the weather", i), maxTokens)
		}()
	}
	wg.Wait()
	p := ParallelBench{Streams: n}
	var t0, t1 time.Time
	var ttft []time.Duration
	for i, r := range res {
		if errs[i] != nil {
			return p, errs[i]
		}
		p.Tokens += r.Tokens
		if t0.IsZero() || r.first.Before(t0) {
			t0 = r.first
		}
		if r.end.After(t1) {
			t1 = r.end
		}
		ttft = append(ttft, r.TTFT)
	}
	if d := t1.Sub(t0); d > 0 {
		p.AggregateTokS = float64(p.Tokens-n) / d.Seconds()
	}
	slices.Sort(ttft)
	p.MedianTTFT = ttft[len(ttft)/2]
	return p, nil
}
