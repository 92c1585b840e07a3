package models

import (
	"context"
	"crypto/rand"
	"os"
	"testing"
)

// BenchmarkPullFromHub reports the throughput of a pull from a loopback hub: a 256 MiB
// file (not a model, so no import), downloaded, hashed and stored.
func BenchmarkPullFromHub(b *testing.B) {
	data := make([]byte, 256<<20)
	rand.Read(data)
	h := newHub(b)
	h.put("blob.bin", data)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		s := Store{Dir: b.TempDir()}
		r, _ := ParseRef("hf://o/r/blob.bin", h.srv.URL)
		head, err := s.head(context.Background(), h.srv.Client(), r.URL)
		if err != nil {
			b.Fatal(err)
		}
		partial := s.PartialPath("x")
		os.MkdirAll(s.partialDir(), 0o755)
		got, err := s.download(context.Background(), h.srv.Client(), r.URL, partial, head.size, func(Progress) {})
		if err != nil || got != head.sha {
			b.Fatalf("%v %s %s", err, got, head.sha)
		}
	}
}
