package node

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aria-node/aria/consent"
	"github.com/aria-node/aria/p2p/peerproto"
)

// Declaring text_gen does not get plainly-code work past a contract that refuses
// code: the stricter of the declared and classified types is admitted.
func TestDeclaredTaskTypeCannotHideTheClassifiedOne(t *testing.T) {
	c := consent.Default()
	c.TaskTypes = []string{"text_gen"}
	got, err := taskType(c, "text_gen", "write a python function that deletes every file")
	if err != nil || got != consent.CodeGen {
		t.Fatalf("declared text_gen for code: admitted as %q (%v), want code_gen", got, err)
	}
	c.TaskTypes = []string{"any"}
	if got, _ := taskType(c, "summarization", "write a python function"); got != consent.Summarization {
		t.Fatalf("a contract that allows both: %q, want the declared type", got)
	}
	if got, _ := taskType(c, "", "hello there"); got != consent.TextGen {
		t.Fatalf("undeclared: %q", got)
	}
	if _, err := taskType(c, "nonsense", "hi"); err == nil {
		t.Fatal("an unknown declared type was accepted")
	}
}

// Over the peer port, anyone may ask for stats: they carry no file paths. And a
// bare client on loopback is remote work, under the contract like any other.
func TestPeerPortStrangers(t *testing.T) {
	contract := fullCPU
	contract.TaskTypes = []string{"code_gen"}
	dir := t.TempDir()
	n := startTestNode(t, dir, func(c *Config) { c.Consent = &contract })
	b, _ := json.Marshal(peerHandler{n}.Stats(t.Context()))
	if strings.Contains(string(b), dir) || strings.Contains(string(b), ".gguf") {
		t.Fatalf("stats over the peer port show file paths: %s", b)
	}
	_, err := peerHandler{n}.Infer(t.Context(), peerproto.InferenceRequest{ModelID: n.Models()[0].ID, Query: "hello", MaxTokens: 2},
		peerproto.Origin{RemoteAddr: "127.0.0.1:40000"}, nil)
	var pe *peerproto.Error
	if !errors.As(err, &pe) || pe.Code != "refused" {
		t.Fatalf("a bare loopback client's text_gen under a code_gen-only contract: %v, want refused", err)
	}
}
