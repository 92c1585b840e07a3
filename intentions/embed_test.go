package intentions

import (
	"context"
	"strings"
	"testing"
)

func TestLexicalSimilarity(t *testing.T) {
	tests := []struct {
		trigger, message string
		min, max         float64
	}{
		{"Q4 presentation results", "How did the Q4 presentation results go over?", 0.78, 1},
		{"Q4 presentation results", "what's the weather like in Paris", 0, 0.3},
		{"Q4 presentation results", "I'm preparing the slides: the q4 presentation is Monday and results look good", 0.78, 1},
		{"dentist appointment", "Remind me, I have an appointment with my dentist next week.", 0.78, 1},
		{"dentist appointment", "My dentist is great.", 0, 0.78},
		{"taxes", "I still need to do my taxes before April", 0.99, 1},
		{"taxes", "Let's talk about cooking pasta with fresh tomatoes and basil", 0, 0.3},
		{"project alpha deadline", strings.Repeat("We talked about lunch and the weather and football. ", 30) +
			"By the way, is the project alpha deadline still Friday? " + strings.Repeat("Then more chatter about films. ", 30), 0.78, 1},
		{"project alpha deadline", strings.Repeat("We talked about lunch and the weather and football. ", 60), 0, 0.3},
		{"birthday party for Anna", "planning the birthday party", 0.78, 1}, // 2 of 3 content terms together
		{"birthday party for Anna", "the party was loud", 0, 0.78},
		{"Q4 presentation results", "", 0, 0},
	}
	ctx := context.Background()
	e := NewLexicalEmbedder()
	for _, tt := range tests {
		emb, err := e.Embed(ctx, tt.trigger)
		if err != nil {
			t.Fatal(err)
		}
		sim, err := Similarity(ctx, e, emb, tt.message)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("similarity(%q, %.40q) = %.3f", tt.trigger, tt.message, sim)
		if sim < tt.min || sim > tt.max {
			t.Errorf("similarity(%q, %.60q) = %.3f, want [%.2f, %.2f]", tt.trigger, tt.message, sim, tt.min, tt.max)
		}
	}
}

// renamedLexical is the lexical embedder under another name, so Matcher treats it as a
// model's embedder: whole message and sentences only, no windows.
type renamedLexical struct{}

func (renamedLexical) Embed(ctx context.Context, text string) ([]float32, error) {
	return NewLexicalEmbedder().Embed(ctx, text)
}
func (renamedLexical) Name() string { return "model" }

func TestModelEmbedderComparesSentences(t *testing.T) {
	ctx := context.Background()
	e := renamedLexical{}
	emb, _ := e.Embed(ctx, "Q4 presentation results")
	whole, _ := Similarity(ctx, e, emb, "Q4 presentation results")
	inSentence, _ := Similarity(ctx, e, emb, "We had cats, dogs, birds and fish at home. Q4 presentation results?")
	inLongSentence, _ := Similarity(ctx, e, emb, "We had cats, dogs, birds, fish and the Q4 presentation results at home")
	if whole < 0.99 || inSentence < 0.99 {
		t.Errorf("whole %.3f, best sentence %.3f; want both 1", whole, inSentence)
	}
	if inLongSentence >= 0.78 {
		t.Errorf("without windows a long sentence should dilute the match, got %.3f", inLongSentence)
	}
	if got := cosine([]float32{1, 0}, []float32{1, 0, 0}); got != 0 {
		t.Errorf("cosine of different lengths = %v, want 0", got)
	}
}

func BenchmarkMatcherLongMessage(b *testing.B) {
	ctx := context.Background()
	e := NewLexicalEmbedder()
	msg := strings.Repeat("We talked about lunch and the weather and football and the project. ", 200)
	emb, _ := e.Embed(ctx, "project alpha deadline next friday")
	for b.Loop() {
		m, _ := NewMatcher(ctx, e, msg)
		m.Similarity(emb)
	}
}
