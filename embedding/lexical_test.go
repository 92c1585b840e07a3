package embedding

import (
	"slices"
	"testing"
)

func TestStem(t *testing.T) {
	tests := map[string]string{
		"results": "result", "studies": "study", "classes": "class", "meetings": "meet", "planned": "plan",
		"presenting": "present", "presented": "present", "quickly": "quick", "running": "run", "bus": "bus",
		"analysis": "analysis", "glass": "glass", "going": "going", "used": "used", "q4": "q4", "filled": "fill",
	}
	for in, want := range tests {
		if got := Stem(in); got != want {
			t.Errorf("stem(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestContentTerms(t *testing.T) {
	got := Terms("How did the Q4 presentation results go over? What's up, I'm 2 days late!")
	want := []string{"q4", "presentation", "result", "go", "2", "day", "late"}
	if !slices.Equal(got, want) {
		t.Errorf("content terms %q, want %q", got, want)
	}
}
