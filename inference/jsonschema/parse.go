package jsonschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// orderKey holds, in every parsed object, the order of its keys in the document (Go
// maps forget it, and output should follow the order of "properties"). Keys containing NUL are refused, so it cannot collide with a real key.
const orderKey = "\x00order"

// maxParseDepth bounds nesting while parsing.
const maxParseDepth = 128

// Parse decodes a schema document, keeping numbers exact and the order of properties.
func Parse(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := parseValue(dec, 0)
	if err != nil {
		return nil, &Error{Path: "#", Msg: "not valid JSON: " + err.Error()}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &Error{Path: "#", Msg: "trailing data after the schema"}
	}
	return v, nil
}

func parseValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxParseDepth {
		return nil, errors.New("nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			m := map[string]any{}
			var order []string
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				if strings.ContainsRune(k, 0) {
					return nil, errors.New("object keys must not contain NUL")
				}
				v, err := parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				if _, dup := m[k]; !dup {
					order = append(order, k)
				}
				m[k] = v
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			m[orderKey] = order
			return m, nil
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return arr, nil
		}
		return nil, errors.New("unexpected delimiter")
	}
	return tok, nil
}

// stripOrder returns v without the order bookkeeping, for literal values.
func stripOrder(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			if k != orderKey {
				out[k] = stripOrder(x)
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = stripOrder(x)
		}
		return out
	}
	return v
}
