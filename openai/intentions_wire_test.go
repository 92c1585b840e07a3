package openai

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aria-node/aria/intentions"
)

// jsonKeys are the JSON names of a struct type's fields.
func jsonKeys(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func sorted(keys ...string) []string { slices.Sort(keys); return keys }

// The spec's request and response bodies of /v1/intentions, field by field
// (spec/aria-api-reference.md, "Intentions API").
var (
	specCreateBody = sorted("content", "trigger_type", "trigger_condition", "priority", "max_fires", "expires_at", "related_topics")
	specCreated    = sorted("id", "status", "created_at", "trigger_embedding_computed")
	specPatchBody  = sorted("priority", "trigger_condition", "expires_at", "status")
)

// TestIntentionWireShape: the intention object on the wire is openai's own struct
// with the spec's field names, converted in one place. Every field of the domain type
// must be decided here (on the wire under which name, or not at all), and the JSON of
// an intention with every field set must equal the literal below, so a change to
// intentions.Intention cannot change the API silently.
func TestIntentionWireShape(t *testing.T) {
	onWire := map[string]string{ // domain field → wire name ("" = never on the wire)
		"ID": "id", "Content": "content", "TriggerType": "trigger_type", "TriggerCondition": "trigger_condition",
		"Priority": "priority", "CreatedAt": "created_at", "UpdatedAt": "updated_at", "ExpiresAt": "expires_at",
		"Status": "status", "FireCount": "fire_count", "MaxFires": "max_fires", "RelatedTopics": "related_topics",
		"Tier": "tier", "LastFiredAt": "last_fired_at", "TriggerEmbeddingComputed": "trigger_embedding_computed",
		"TriggerEmbedding": "",
	}
	var names []string
	for f := range reflect.TypeFor[intentions.Intention]().Fields() {
		if _, ok := onWire[f.Name]; !ok {
			t.Errorf("intentions.Intention.%s is new: decide whether the API shows it (toIntention, Intention, this test)", f.Name)
		}
		names = append(names, f.Name)
	}
	for name := range onWire {
		if !slices.Contains(names, name) {
			t.Errorf("intentions.Intention.%s is gone: the wire still names it", name)
		}
	}

	created := time.Date(2026, 2, 13, 23, 0, 0, 0, time.UTC)
	expires := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	fired := time.Date(2026, 2, 17, 9, 0, 1, 500_000_000, time.UTC)
	in := intentions.Intention{ID: "int_a1b2c3", Content: "Ask about Q4 presentation results", TriggerType: intentions.TriggerTime,
		TriggerCondition: "2026-02-17T09:00:00Z", Priority: 0.8, CreatedAt: created, UpdatedAt: fired, ExpiresAt: &expires,
		Status: intentions.StatusTriggered, FireCount: 1, MaxFires: 2, RelatedTopics: []string{"project_alpha", "quarterly_review"},
		Tier: intentions.TierHot, LastFiredAt: &fired, TriggerEmbeddingComputed: true, TriggerEmbedding: []float32{0.5}}
	rv := reflect.ValueOf(in)
	for i := range rv.NumField() {
		if rv.Field(i).IsZero() {
			t.Fatalf("intentions.Intention.%s is not set by this test", rv.Type().Field(i).Name)
		}
	}
	const want = `{"id":"int_a1b2c3","content":"Ask about Q4 presentation results","trigger_type":"time",
		"trigger_condition":"2026-02-17T09:00:00Z","priority":0.8,"created_at":"2026-02-13T23:00:00Z",
		"updated_at":"2026-02-17T09:00:01.5Z","expires_at":"2026-03-01T00:00:00Z","status":"triggered","fire_count":1,
		"max_fires":2,"related_topics":["project_alpha","quarterly_review"],"tier":"hot",
		"last_fired_at":"2026-02-17T09:00:01.5Z","trigger_embedding_computed":true}`
	got, err := json.Marshal(toIntention(in))
	if err != nil {
		t.Fatal(err)
	}
	var g, w map[string]any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("intention on the wire\n got %s\nwant %s", got, want)
	}
	for wireName := range maps.Values(onWire) {
		if _, ok := g[wireName]; wireName != "" && !ok {
			t.Errorf("%q is missing from the wire", wireName)
		}
	}
	// The spec's create fields are all part of the intention object.
	for _, k := range specCreateBody {
		if _, ok := g[k]; !ok {
			t.Errorf("spec field %q is not in the intention object", k)
		}
	}

	// Never-set optional fields are null, not absent.
	bare, _ := json.Marshal(toIntention(intentions.Intention{ID: "x"}))
	var b map[string]any
	if err := json.Unmarshal(bare, &b); err != nil {
		t.Fatal(err)
	}
	if v, ok := b["expires_at"]; !ok || v != nil {
		t.Errorf("expires_at of an intention without one: %s", bare)
	}

	created201, _ := json.Marshal(toIntentionCreated(in))
	if string(created201) != `{"id":"int_a1b2c3","status":"triggered","created_at":"2026-02-13T23:00:00Z","trigger_embedding_computed":true}` {
		t.Errorf("201 body %s", created201)
	}
}

// TestIntentionBodiesAreTheSpecs: the request and 201 bodies name exactly the spec's
// fields, and the create body's conversion carries every one of them.
func TestIntentionBodiesAreTheSpecs(t *testing.T) {
	for name, c := range map[string]struct{ got, want []string }{
		"POST body":  {jsonKeys(reflect.TypeFor[intentionCreateBody]()), specCreateBody},
		"201 body":   {jsonKeys(reflect.TypeFor[IntentionCreated]()), specCreated},
		"PATCH body": {jsonKeys(reflect.TypeFor[intentionPatchBody]()), specPatchBody},
		"patchable":  {slices.Sorted(maps.Keys(patchable)), specPatchBody},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s fields %v, the spec's are %v", name, c.got, c.want)
		}
	}
	var b intentionCreateBody
	if err := json.Unmarshal([]byte(`{"content":"Ask about Q4 presentation results","trigger_type":"time",
		"trigger_condition":"2026-02-17T09:00:00Z","priority":0.8,"max_fires":1,"expires_at":"2026-03-01T00:00:00Z",
		"related_topics":["project_alpha","quarterly_review"]}`), &b); err != nil {
		t.Fatal(err)
	}
	req, apiErr := b.toCreateRequest()
	if apiErr != nil {
		t.Fatal(apiErr)
	}
	rv := reflect.ValueOf(req)
	for i := range rv.NumField() {
		if rv.Field(i).IsZero() {
			t.Errorf("CreateRequest.%s is not carried from the body", rv.Type().Field(i).Name)
		}
	}
	var p intentionPatchBody
	if err := json.Unmarshal([]byte(`{"priority":0.1,"trigger_condition":"x","status":"cancelled","expires_at":"2026-03-01T00:00:00Z"}`), &p); err != nil {
		t.Fatal(err)
	}
	patch, apiErr := p.toPatch(false)
	if apiErr != nil || patch.Priority == nil || patch.TriggerCondition == nil || patch.Status == nil || patch.ExpiresAt == nil || patch.ClearExpiresAt {
		t.Errorf("patch %+v %v", patch, apiErr)
	}
}
