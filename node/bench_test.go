package node

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aria-node/aria/inference"
)

// BenchmarkPeerHop measures, in one run on the same model, a request served by a
// peer one hop away against the same request served locally: time to first token and
// decode speed. It uses the 700m fixture when `make fixtures` made it, else tiny.
//
//	eval "$(make -s env)"; go test -run '^$' -bench PeerHop -benchtime 1x ./node/
func BenchmarkPeerHop(b *testing.B) {
	model := []string{DefaultModel}
	if p, _ := filepath.Abs("../testdata/models/700m-tq2_0.gguf"); fileExists(p) {
		model = []string{p}
	}
	// Both nodes share this machine's cores; ARIA_BENCH_THREADS=1 leaves one core to
	// the relay, as a peer on another machine would have.
	threads := 2
	if v, err := strconv.Atoi(os.Getenv("ARIA_BENCH_THREADS")); err == nil && v > 0 {
		threads = v
	}
	server := netNodeTB(b, model, threads)
	client := netNodeTB(b, []string{NoModel}, 1, server.host.Addrs()[0])
	id := server.Models()[0].ID
	deadline := time.Now().Add(20 * time.Second)
	for len(client.router.candidates(b.Context(), id)) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	const tokens, reps = 64, 9
	calls := 0
	run := func(n *Node) (ttft, decode time.Duration) {
		calls++
		sp := inference.DefaultSampling()
		sp.Temperature = 0
		start := time.Now()
		var first time.Time
		var count int
		_, err := n.Generate(b.Context(), inference.Request{Model: id, Prompt: fmt.Sprintf("The benchmark of a peer hop, call %d:", calls), MaxTokens: tokens, Sampling: sp},
			func(tok inference.Token) error {
				if count == 0 {
					first = time.Now()
				}
				count++
				return nil
			})
		if err != nil {
			b.Fatal(err)
		}
		return first.Sub(start), time.Since(first) / time.Duration(max(count-1, 1))
	}
	run(server) // warm both paths
	run(client)
	var ttftL, ttftP, decL, decP, added, ratio []float64
	for b.Loop() {
		for range reps {
			tl, dl := run(server)
			tp, dp := run(client)
			ttftL, decL = append(ttftL, ms(tl)), append(decL, ms(dl))
			ttftP, decP = append(ttftP, ms(tp)), append(decP, ms(dp))
			// Paired: the machine's drift between repetitions cancels out.
			added, ratio = append(added, ms(tp)-ms(tl)), append(ratio, float64(dl)/float64(dp))
		}
	}
	b.ReportMetric(median(ttftL), "local-ttft-ms")
	b.ReportMetric(median(ttftP), "peer-ttft-ms")
	b.ReportMetric(median(added), "added-ttft-ms")
	b.ReportMetric(1000/median(decL), "local-tok/s")
	b.ReportMetric(1000/median(decP), "peer-tok/s")
	b.ReportMetric(median(ratio), "peer/local")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
