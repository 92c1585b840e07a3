package node

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aria-node/aria/consent"
	"github.com/aria-node/aria/energy"
	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/inference/local"
)

// startTestNode starts a real node on dir serving the tiny synthetic model, without
// the HTTP API, and stops it when the test ends (unless the test already did).
func startTestNode(t testing.TB, dir string, mod func(*Config)) *Node {
	t.Helper()
	cfg := Config{
		DataDir: dir, APIPort: -1, Progress: io.Discard,
		Engine:      local.Options{Threads: 1, Slots: 2},
		EnergyMeter: energy.MeterOptions{Method: energy.MethodCPUTime},
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Consent:     &fullCPU,
		Peers:       PeerConfig{Disabled: true},
	}
	if mod != nil {
		mod(&cfg)
	}
	n := New(cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() { stopTestNode(t, n) })
	return n
}

// fullCPU is the default contract with the whole CPU: tests run as the owner.
var fullCPU = func() consent.Contract { c := consent.Default(); c.CPUPercent = 100; return c }()

func stopTestNode(t testing.TB, n *Node) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !n.Running() {
		return
	}
	if err := n.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

func generate(t *testing.T, n *Node, prompt string, maxTokens int) inference.Result {
	t.Helper()
	model := n.Models()[0].ID
	sp := inference.DefaultSampling()
	sp.Temperature = 0
	res, err := n.Generate(t.Context(), inference.Request{Model: model, Prompt: prompt, MaxTokens: maxTokens, Sampling: sp}, nil)
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	return res
}

func TestEnergyIsMeasuredAndTheLedgerSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	n := startTestNode(t, dir, nil)
	res := generate(t, n, "The energy of one generation", 48)
	if res.CompletionTokens == 0 {
		t.Fatal("no tokens generated")
	}
	e := n.Energy()
	if e.Method != energy.MethodCPUTime || e.TotalInferences != 1 || e.TotalTokensGenerated != int64(res.CompletionTokens) {
		t.Fatalf("session: method %s, %d inferences, %d tokens (generated %d)", e.Method, e.TotalInferences, e.TotalTokensGenerated, res.CompletionTokens)
	}
	if e.TotalEnergyMJ <= 0 || e.AvgEnergyPerTokenMJ <= 0 || len(e.RecentHistory) != 1 || e.RecentHistory[0].EnergyMJ != e.TotalEnergyMJ {
		t.Fatalf("a real generation metered by CPU time must cost energy: %+v", e)
	}
	if got := e.AvgEnergyPerTokenMJ * float64(e.TotalTokensGenerated); got < e.TotalEnergyMJ*0.999 || got > e.TotalEnergyMJ*1.001 {
		t.Fatalf("per-token figure %.3f × %d tokens != total %.3f", e.AvgEnergyPerTokenMJ, e.TotalTokensGenerated, e.TotalEnergyMJ)
	}
	if e.References == nil || e.References.WattsPerCore != energy.DefaultWattsPerCore {
		t.Fatalf("references: %+v", e.References)
	}
	first := e.TotalEnergyMJ
	stopTestNode(t, n)

	n2 := startTestNode(t, dir, nil)
	e2 := n2.Energy()
	if e2.TotalInferences != 0 || e2.TotalEnergyMJ != 0 {
		t.Fatalf("session figures must start anew: %+v", e2)
	}
	if e2.Lifetime == nil || e2.Lifetime.TotalInferences != 1 || e2.Lifetime.TotalEnergyMJ != first || e2.Lifetime.ByMethod[energy.MethodCPUTime].Inferences != 1 {
		t.Fatalf("lifetime after restart: %+v", e2.Lifetime)
	}
	generate(t, n2, "again", 8)
	if lt := n2.Energy().Lifetime; lt.TotalInferences != 2 {
		t.Fatalf("lifetime after a second inference: %+v", lt)
	}
}

func TestSecondNodeOnSameDataDirFailsClearly(t *testing.T) {
	dir := t.TempDir()
	startTestNode(t, dir, nil)
	n := New(Config{DataDir: dir, APIPort: -1, Progress: io.Discard, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	err := n.Start(t.Context())
	if err == nil || !strings.Contains(err.Error(), "another aria node") {
		t.Fatalf("second node on a data dir in use: err = %v", err)
	}
}
