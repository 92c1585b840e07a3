package peerinfer

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/p2p/peerproto"
)

// distinct sets every field of v (a struct) to a value unlike its default, so a field
// a converter drops shows up as a difference. It fails on kinds it does not know, so a
// new field of a new kind is noticed here too.
func distinct(t *testing.T, v reflect.Value, seed int) {
	t.Helper()
	for i := range v.NumField() {
		f := v.Field(i)
		k := seed + i + 1
		switch f.Kind() {
		case reflect.Float32, reflect.Float64:
			f.SetFloat(float64(k) / 64) // exact in float32 and in range of every sampling field
		case reflect.Int, reflect.Int32, reflect.Int64:
			f.SetInt(int64(k))
		case reflect.Uint64:
			f.SetUint(uint64(k) << 40)
		case reflect.Bool:
			f.SetBool(!f.Bool())
		case reflect.String:
			f.SetString("s" + v.Type().Field(i).Name)
		case reflect.Slice:
			if f.Type().Elem().Kind() == reflect.String {
				f.Set(reflect.ValueOf([]string{"x", "y"}))
			}
		case reflect.Struct:
			distinct(t, f, k*10)
		default:
			t.Fatalf("field %s of kind %s: teach distinct about it", v.Type().Field(i).Name, f.Kind())
		}
	}
}

// Defect 4: a forwarded request lost task type, min_p, the penalties and
// repeat_last_n. Every field of inference.Request (and of its Sampling) must survive
// ToRequest → JSON → FromRequest; a new field fails this test until carried.
func TestRequestRoundTripCarriesEveryField(t *testing.T) {
	var sp inference.Sampling
	distinct(t, reflect.ValueOf(&sp).Elem(), 0)
	sp.RandomSeed = false // a random seed is not a value to carry
	for _, base := range []inference.Request{
		{Model: "m", Prompt: "raw text"},
		{Model: "m", Messages: []inference.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "hi"}}},
	} {
		in := base
		in.MaxTokens, in.Stop, in.Sampling, in.Remote, in.TaskType = 7, []string{"x", "y"}, sp, true, "code"
		in.Logprobs, in.TopLogprobs = true, 3
		in.Format = &inference.Format{Type: inference.FormatToolCalls, Required: true, Parallel: true,
			Tools: []inference.ToolSpec{{Name: "f", Parameters: json.RawMessage(`{"type":"object"}`)}}}
		// Every top-level field must be set here: a new one fails until it is.
		rv := reflect.ValueOf(in)
		for i := range rv.NumField() {
			if name := rv.Type().Field(i).Name; rv.Field(i).IsZero() && !(name == "Prompt" || name == "Messages") {
				t.Fatalf("inference.Request.%s is not exercised by this test", name)
			}
		}
		b, err := json.Marshal(ToRequest(in, 1))
		if err != nil {
			t.Fatal(err)
		}
		var wire peerproto.InferenceRequest
		if err := json.Unmarshal(b, &wire); err != nil {
			t.Fatal(err)
		}
		out, err := FromRequest(wire)
		if err != nil {
			t.Fatal(err)
		}
		if out.Format == nil || !reflect.DeepEqual(mustMarshal(t, in.Format), mustMarshal(t, out.Format)) {
			t.Fatalf("format changed: %+v", out.Format)
		}
		in.Format, out.Format = nil, nil // compiled state differs; compared as JSON above
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("round trip changed the request:\n in  %+v\n out %+v\n wire %s", in, out, b)
		}
	}
	// A random seed stays random.
	in := inference.Request{Model: "m", Prompt: "p", MaxTokens: 1, Sampling: inference.DefaultSampling()}
	out, err := FromRequest(ToRequest(in, 0))
	if err != nil || !reflect.DeepEqual(in, out) {
		t.Fatalf("default sampling: %+v %v", out, err)
	}
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
