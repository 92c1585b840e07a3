package openai

import (
	"strings"
	"testing"

	"github.com/aria-node/aria/inference"
)

// peeredBackend is a backend that also reaches a model through a peer.
type peeredBackend struct {
	*fakeBackend
	remote []inference.ModelInfo
}

func (b peeredBackend) RemoteModels() []inference.ModelInfo { return b.remote }

func TestRemoteModelsAreListedAndServed(t *testing.T) {
	fb := newFakeBackend()
	pb := peeredBackend{fakeBackend: fb, remote: []inference.ModelInfo{{ID: "aria-700m-1bit", Architecture: "bitnet"}, {ID: fb.models[0].ID}}}
	e := newEnv(t, nil, func(c *Config) { c.Backend = pb })
	body := e.do("GET", "/v1/models", "").body
	var list ModelList
	if err := jsonUnmarshalStrict(body, &list); err != nil {
		t.Fatal(err)
	}
	n := len(fb.models)
	if len(list.Data) != n+1 || list.Data[0].Aria.Remote || list.Data[n].ID != "aria-700m-1bit" || !list.Data[n].Aria.Remote {
		t.Fatalf("models: %s", body)
	}
	if r := e.do("GET", "/v1/models/aria-700m-1bit", ""); r.status != 200 || !strings.Contains(string(r.body), `"remote":true`) {
		t.Fatalf("remote model: %d %s", r.status, r.body)
	}
	if r := e.chat(`{"model":"aria-700m-1bit","messages":[{"role":"user","content":"hi"}]}`); r.status != 200 {
		t.Fatalf("chat for a model reached through a peer: %d %s", r.status, r.body)
	}
}

// unreachableNode is the gateway's view of a node it cannot reach.
type unreachableNode struct{ *fakeNode }

func (unreachableNode) Reachable() bool { return false }

func TestUnreachableNodeMakesHealthDegraded(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) {
		n := &fakeNode{}
		n.running.Store(true)
		c.Node = unreachableNode{n}
	})
	r := e.do("GET", "/health", "")
	h := obj(t, r.body)
	node, _ := h["node"].(map[string]any)
	if r.status != 503 || h["status"] != "degraded" || node["status"] != "unreachable" {
		t.Fatalf("HTTP %d %s", r.status, r.body)
	}
}
