package local

import (
	"strings"
	"testing"
)

func TestTextStreamStopAcrossTokens(t *testing.T) {
	cases := []struct {
		name    string
		stops   []string
		pieces  []string
		want    string
		stopped bool
	}{
		{"no stop", nil, []string{"ab", "cd"}, "abcd", false},
		{"stop inside one piece", []string{"cd"}, []string{"abcde"}, "ab", true},
		{"stop split over pieces", []string{"END"}, []string{"hello E", "N", "D tail"}, "hello ", true},
		{"false start is released", []string{"END"}, []string{"hello E", "NX", " more"}, "hello ENX more", false},
		{"earliest of several stops", []string{"zz", "b"}, []string{"a", "bzz"}, "a", true},
		{"stop at very start", []string{"x"}, []string{"xyz"}, "", true},
		{"overlapping prefix", []string{"aab"}, []string{"a", "a", "a", "b"}, "a", true},
		{"empty stop ignored", []string{""}, []string{"abc"}, "abc", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := newTextStream(c.stops)
			var out strings.Builder
			stopped := false
			for _, p := range c.pieces {
				s, st := ts.push([]byte(p))
				out.WriteString(s)
				if st {
					stopped = true
					break
				}
			}
			if !stopped {
				out.WriteString(ts.flush())
			}
			if out.String() != c.want || stopped != c.stopped {
				t.Fatalf("got %q stopped=%v, want %q stopped=%v", out.String(), stopped, c.want, c.stopped)
			}
		})
	}
}

func TestTextStreamHoldsIncompleteUTF8(t *testing.T) {
	ts := newTextStream(nil)
	euro := []byte("€") // 3 bytes
	if s, _ := ts.push(euro[:1]); s != "" {
		t.Fatalf("emitted %q from a lone lead byte", s)
	}
	if s, _ := ts.push(euro[1:2]); s != "" {
		t.Fatalf("emitted %q from two of three bytes", s)
	}
	if s, _ := ts.push(append(euro[2:3:3], 'x')); s != "€x" {
		t.Fatalf("got %q, want €x", s)
	}
	// An invalid byte is replaced, per byte, and not held.
	if s, _ := ts.push([]byte{0xff, 'a'}); s != "\uFFFDa" {
		t.Fatalf("got %q", s)
	}
	// A truncated sequence at the end is flushed as replacement characters.
	ts.push(euro[:2])
	if s := ts.flush(); s != "\uFFFD\uFFFD" {
		t.Fatalf("flush got %q", s)
	}
}

// Streaming in any split gives the same text as one push.
func FuzzTextStreamSplitInvariant(f *testing.F) {
	f.Add([]byte("hello END world €"), []byte("END"), uint8(3))
	f.Add([]byte{0xe2, 0x82, 0xac, 0xff, 'a'}, []byte("a"), uint8(1))
	f.Fuzz(func(t *testing.T, data, stop []byte, step uint8) {
		n := int(step%7) + 1
		whole := newTextStream([]string{string(stop)})
		w, wst := whole.push(data)
		if !wst {
			w += whole.flush()
		}
		split := newTextStream([]string{string(stop)})
		var out strings.Builder
		sst := false
		for i := 0; i < len(data) && !sst; i += n {
			s, st := split.push(data[i:min(i+n, len(data))])
			out.WriteString(s)
			sst = st
		}
		if !sst {
			out.WriteString(split.flush())
		}
		if out.String() != w || sst != wst {
			t.Fatalf("split %d: %q (stop %v) vs whole %q (stop %v)", n, out.String(), sst, w, wst)
		}
	})
}
