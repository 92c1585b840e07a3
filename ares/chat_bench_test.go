package ares

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aria-node/aria/agents"
	"github.com/aria-node/aria/providers"
	"github.com/aria-node/aria/providers/upstreamtest"
	"github.com/aria-node/aria/storage/bolt"
	"github.com/aria-node/aria/tenancy"
)

// BenchmarkChatOverhead prints what the platform adds to a chat turn over calling the
// provider directly, against a fast loopback upstream: median latency of a whole turn
// and median time to the first streamed delta, direct (the providers registry) and
// through POST /v1/chat and /v1/chat/stream with a tenant key (auth, quota admission,
// agent resolution, conversation and run writes, metering):
//
//	go test ./ares -run '^$' -bench ChatOverhead -benchtime 1x
func BenchmarkChatOverhead(b *testing.B) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	up := upstreamtest.Start(b)
	up.SetDefault(upstreamtest.Reply{Content: "one two three four five six seven eight"})
	reg := providers.NewRegistry()
	c, _ := providers.NewClient("up", up.BaseURL(), "", providers.WithLogger(quiet))
	if err := reg.AddProvider(c, false); err != nil {
		b.Fatal(err)
	}
	for _, tier := range []string{"fast", "balanced"} {
		if err := reg.AddModel(providers.Model{Name: "up-" + tier, Provider: "up", Tier: tier, ContextLength: 8192}); err != nil {
			b.Fatal(err)
		}
	}
	db := tempBolt(b)
	ts, _ := bolt.NewTenancyStore(db)
	as, _ := bolt.NewAgentsStore(db)
	svc := tenancy.NewService(ts, tenancy.Options{Logger: quiet, JWTSecret: jwtSecret})
	ag, err := agents.New(agents.Options{Store: as, Model: agents.RegistryModel{Registry: reg}, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	p := New(Config{Service: svc, Required: true, AdminSecret: adminSecret, Logger: quiet, Agents: ag})
	srv := httptest.NewServer(p.Wrap(http.NotFoundHandler()))
	defer srv.Close()
	ctx := context.Background()
	tn, err := svc.CreateTenant(ctx, "admin", "bench", "enterprise")
	if err != nil {
		b.Fatal(err)
	}
	_, key, err := svc.CreateKey(ctx, "admin", tn.ID, "k", 0)
	if err != nil {
		b.Fatal(err)
	}
	const n = 300
	req := agents.ModelRequest{Model: "balanced", Messages: []agents.Message{{Role: "user", Content: "hello there"}}}
	model := agents.RegistryModel{Registry: reg}
	measure := func(fn func() (ttft, total time.Duration)) (time.Duration, time.Duration) {
		var ft, tt []time.Duration
		for range n {
			f, t := fn()
			ft, tt = append(ft, f), append(tt, t)
		}
		slices.Sort(ft)
		slices.Sort(tt)
		return ft[n/2], tt[n/2]
	}
	direct := func() (time.Duration, time.Duration) {
		start := time.Now()
		var first time.Duration
		_, err := model.ChatStream(ctx, req, func(string) error {
			if first == 0 {
				first = time.Since(start)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		return first, time.Since(start)
	}
	viaPlatform := func() (time.Duration, time.Duration) {
		start := time.Now()
		r, _ := http.NewRequest("POST", srv.URL+"/v1/chat/stream", strings.NewReader(`{"message":"hello there","agent_type":"product"}`))
		r.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(r)
		if err != nil || res.StatusCode != 200 {
			b.Fatalf("%v %v", res, err)
		}
		defer res.Body.Close()
		var first time.Duration
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if first == 0 && strings.HasPrefix(sc.Text(), "data: ") {
				first = time.Since(start)
			}
		}
		return first, time.Since(start)
	}
	for range b.N {
		dFirst, dTotal := measure(direct)
		pFirst, pTotal := measure(viaPlatform)
		b.Logf("median over %d streamed turns: direct TTFT %v, turn %v; via /v1/chat/stream TTFT %v, turn %v; overhead %v per turn",
			n, dFirst, dTotal, pFirst, pTotal, pTotal-dTotal)
		b.ReportMetric(float64(dTotal.Microseconds())/1000, "direct_ms/turn")
		b.ReportMetric(float64(pTotal.Microseconds())/1000, "platform_ms/turn")
		b.ReportMetric(float64(pFirst.Microseconds()-dFirst.Microseconds())/1000, "ttft_overhead_ms")
	}
}
