package energy

import (
	"testing"
	"time"
)

func TestSessionCountsAndKeepsLastFifty(t *testing.T) {
	s := NewSession(MethodNone)
	for i := range 60 {
		s.Add(Record{Time: time.Unix(int64(i), 0), Tokens: i, Model: "m"})
	}
	snap := s.Snapshot()
	if snap.Inferences != 60 || snap.Tokens != 59*60/2 {
		t.Fatalf("totals %d inferences %d tokens", snap.Inferences, snap.Tokens)
	}
	if len(snap.Recent) != HistorySize || snap.Recent[0].Tokens != 10 || snap.Recent[49].Tokens != 59 {
		t.Fatalf("history: %d records, first %d last %d", len(snap.Recent), snap.Recent[0].Tokens, snap.Recent[len(snap.Recent)-1].Tokens)
	}
}
