package peerinfer

import (
	"errors"
	"strings"
	"testing"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/p2p/peerproto"
)

// The WebSocket front end applies the same rules as HTTP: temperature 1e308 was
// accepted here while HTTP refused it, and message count and size are bounded.
func TestPeerRequestsAreValidatedLikeHTTP(t *testing.T) {
	big := 1e308
	many := make([]peerproto.Message, inference.MaxMessages+1)
	for i := range many {
		many[i] = peerproto.Message{Role: "user", Content: "x"}
	}
	for name, r := range map[string]peerproto.InferenceRequest{
		"temperature 1e308": {ModelID: "m", Query: "hi", Temperature: &big},
		"4097 messages":     {ModelID: "m", Messages: many},
		"over 1 MiB":        {ModelID: "m", Query: strings.Repeat("a", inference.MaxContentBytes+1)},
		"17 stops":          {ModelID: "m", Query: "hi", Stop: make([]string, 17)},
	} {
		_, err := FromRequest(r)
		var pe *peerproto.Error
		if !errors.As(err, &pe) || pe.Code != "invalid_request" {
			t.Errorf("%s: got %v, want invalid_request", name, err)
		}
	}
	if _, err := FromRequest(peerproto.InferenceRequest{ModelID: "m", Query: "hi"}); err != nil {
		t.Fatalf("a plain request was refused: %v", err)
	}
}
