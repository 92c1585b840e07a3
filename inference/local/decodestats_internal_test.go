package local

import (
	"context"
	"testing"
	"time"

	"github.com/aria-node/aria/inference/llamacpp"
)

// The bench splits per-token time into time in llama_decode and time between decodes.
// A request's decodes form one run: its first decode (the prompt) follows the runner's
// wait for work, which is not a gap; every later decode follows one.
func TestDecodeStatsCountOneRunPerRequest(t *testing.T) {
	e, id := loaded(t, Options{Threads: 1, Slots: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var prev llamacpp.DecodeStats
	for i := range 2 {
		res, err := e.Generate(ctx, greedyReq(id, 8, false), nil)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			// Let the runner go back to waiting: the pause before the next request
			// must not count as a gap.
			time.Sleep(50 * time.Millisecond)
		}
		s, err := e.DecodeStats(id)
		if err != nil {
			t.Fatal(err)
		}
		d := s.Sub(prev)
		prev = s
		// The prompt fits one batch; each sampled token but the last is fed back.
		want := int64(1 + res.CompletionTokens - 1)
		if res.FinishReason != "length" {
			want++ // the end-of-generation token was sampled but not counted
		}
		if d.Decodes != want || d.Gaps != want-1 {
			t.Fatalf("request %d (%d tokens, %s): %d decodes and %d gaps, want %d and %d", i, res.CompletionTokens, res.FinishReason, d.Decodes, d.Gaps, want, want-1)
		}
		if d.Decode <= 0 || d.Gap <= 0 || d.Resume < 0 {
			t.Fatalf("request %d: timings %+v", i, d)
		}
	}
}

func TestRateOfMedianInterval(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms ...int) []time.Time {
		var ts []time.Time
		for _, m := range ms {
			ts = append(ts, t0.Add(time.Duration(m)*time.Millisecond))
		}
		return ts
	}
	for _, c := range []struct {
		ts   []time.Time
		want float64
	}{
		{nil, 0},
		{at(0), 0},
		{at(0, 20), 50},
		// One interval stalled by another process does not move the figure.
		{at(0, 10, 20, 520, 530, 540), 100},
		{at(0, 0, 0), 0},
	} {
		if got := RateOfMedianInterval(c.ts); got < c.want-1e-9 || got > c.want+1e-9 {
			t.Errorf("RateOfMedianInterval(%v) = %v, want %v", c.ts, got, c.want)
		}
	}
}
