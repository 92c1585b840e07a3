package rag

import "testing"

func naiveDot(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// BenchmarkDot: the semantic scan's inner loop over 100k rows of 1024 float32s (one
// query at 100k chunks), four accumulators against one.
func BenchmarkDot(b *testing.B) {
	const dim, rows = 1024, 100000
	m := make([]float32, dim*rows)
	for i := range m {
		m[i] = float32(i%97) / 97
	}
	q := m[:dim]
	for _, tc := range []struct {
		name string
		fn   func(a, b []float32) float32
	}{{"naive", naiveDot}, {"unrolled4", dot}} {
		b.Run(tc.name, func(b *testing.B) {
			var sink float32
			for i := 0; i < b.N; i++ {
				for r := range rows {
					sink += tc.fn(m[r*dim:(r+1)*dim], q)
				}
			}
			_ = sink
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/query")
		})
	}
}
