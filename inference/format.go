package inference

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/aria-node/aria/inference/grammar"
	"github.com/aria-node/aria/inference/jsonschema"
)

// Output format types.
const (
	FormatJSONObject = "json_object" // any JSON object
	FormatJSONSchema = "json_schema" // a value valid under Schema
	FormatToolCalls  = "tool_calls"  // one or more tool calls in the Hermes format
)

// The Hermes tool-call format: every call is
//
//	<tool_call>
//	{"name": "get_weather", "arguments": {"city": "Oslo"}}
//	</tool_call>
//
// aria renders tool definitions and results in this format (see the openai package) and
// constrains calls to it, so the same text is written, parsed and enforced.
const (
	ToolCallOpen  = "<tool_call>"
	ToolCallClose = "</tool_call>"
)

// Format constrains a generation's output: it is compiled to a grammar that the
// sampler enforces token by token. It is plain data so it travels to peers.
type Format struct {
	Type   string          `json:"type"`
	Schema json.RawMessage `json:"schema,omitempty"` // json_schema
	// tool_calls: the callable tools. With Required the output must be calls; else
	// it is free text unless it starts with ToolCallOpen, from which point it must be
	// calls (the model decides by how it starts its answer).
	Tools    []ToolSpec `json:"tools,omitempty"`
	Required bool       `json:"required,omitempty"`
	Parallel bool       `json:"parallel,omitempty"` // more than one call allowed

	once     sync.Once
	compiled *grammar.Grammar
	err      error
}

// ToolSpec is one callable function; Parameters is its JSON Schema (nil: an object
// with any members).
type ToolSpec struct {
	Name       string          `json:"name"`
	Parameters json.RawMessage `json:"parameters,omitempty"`
}

// FormatError is a format the engine cannot enforce. Field names where, e.g.
// "response_format.json_schema.schema" plus a JSON pointer in Path.
type FormatError struct {
	Field string
	Err   error
}

func (e *FormatError) Error() string        { return fmt.Sprintf("invalid '%s': %v", e.Field, e.Err) }
func (e *FormatError) Unwrap() error        { return e.Err }
func (e *FormatError) Is(target error) bool { return target == ErrInvalidRequest }

// Grammar compiles the format once and returns its grammar.
func (f *Format) Grammar() (*grammar.Grammar, error) {
	f.once.Do(func() { f.compiled, f.err = f.compile() })
	return f.compiled, f.err
}

// Lazy reports whether the constraint only starts when the output begins a tool call.
func (f *Format) Lazy() bool { return f.Type == FormatToolCalls && !f.Required }

func (f *Format) compile() (*grammar.Grammar, error) {
	b := grammar.NewBuilder()
	switch f.Type {
	case FormatJSONObject:
		c := jsonschema.NewCompiler(b, nil)
		return build(b, c.AnyObject(), "response_format")
	case FormatJSONSchema:
		s, err := jsonschema.Parse(f.Schema)
		if err != nil {
			return nil, &FormatError{Field: "schema", Err: err}
		}
		c := jsonschema.NewCompiler(b, s)
		root, err := c.Value(s)
		if err != nil {
			return nil, &FormatError{Field: "schema", Err: err}
		}
		return build(b, root, "schema")
	case FormatToolCalls:
		if len(f.Tools) == 0 {
			return nil, &FormatError{Field: "tools", Err: errors.New("no tools to call")}
		}
		var calls []grammar.Expr
		for i, t := range f.Tools {
			args := []byte(`{"type":"object"}`)
			if len(t.Parameters) > 0 && string(t.Parameters) != "null" {
				args = t.Parameters
			}
			s, err := jsonschema.Parse(args)
			if err != nil {
				return nil, &FormatError{Field: fmt.Sprintf("tools[%d].function.parameters", i), Err: err}
			}
			c := jsonschema.NewCompiler(b, s)
			av, err := c.Value(s)
			if err != nil {
				return nil, &FormatError{Field: fmt.Sprintf("tools[%d].function.parameters", i), Err: err}
			}
			name, _ := json.Marshal(t.Name)
			ws := b.Opt("ws", grammar.Lit(" "))
			calls = append(calls, grammar.Seq(grammar.Lit(`{"name":`), ws, grammar.Lit(string(name)),
				grammar.Lit(`,`), ws, grammar.Lit(`"arguments":`), ws, av, grammar.Lit("}")))
		}
		nl := b.Opt("nl", grammar.Lit("\n"))
		call := b.Rule("call", grammar.Seq(grammar.Lit(ToolCallOpen), nl, b.Alt("calls", calls...), nl, grammar.Lit(ToolCallClose)))
		root := call
		if f.Parallel {
			root = grammar.Seq(call, b.Star("more", grammar.Seq(nl, call)))
		}
		return build(b, root, "tools")
	}
	return nil, &FormatError{Field: "type", Err: fmt.Errorf("unknown format type %q", f.Type)}
}

func build(b *grammar.Builder, root grammar.Expr, field string) (*grammar.Grammar, error) {
	g, err := b.Build(b.Rule("root", root))
	if err != nil {
		return nil, &FormatError{Field: field, Err: err}
	}
	return g, nil
}

// TokenLogprob is a sampled token's log-probability under the distribution it was
// drawn from, with the most likely alternatives when asked for.
type TokenLogprob struct {
	Logprob float32
	Top     []TopLogprob
}

// TopLogprob is one alternative.
type TopLogprob struct {
	ID      int32
	Bytes   []byte
	Logprob float32
}

// MaxTopLogprobs is the most alternatives a request may ask for, as OpenAI allows.
const MaxTopLogprobs = 20
