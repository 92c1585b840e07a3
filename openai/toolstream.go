package openai

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/aria-node/aria/inference"
)

// toolStream turns streamed text in the Hermes tool-call format into OpenAI's stream
// of deltas: content while the answer is text, and for each call one delta with its
// index, id and name followed by deltas carrying pieces of its arguments.
//
// The sampler's grammar guarantees the shape of calls; this parser only has to find
// their parts. With tool_choice auto it holds text back while the answer could still
// be the start of a call, exactly as the engine decides whether to constrain it.
type toolStream struct {
	buf     string
	state   int // tsUndecided, tsText, tsHead, tsArgs, tsTail
	calls   []ToolCall
	depth   int
	inStr   bool
	escaped bool
	started bool // the arguments value has started
}

const (
	tsUndecided = iota
	tsText
	tsHead
	tsArgs
	tsTail
)

var callHead = regexp.MustCompile(`^\s*` + regexp.QuoteMeta(inference.ToolCallOpen) + `\s*\{"name":\s*("(?:[^"\\]|\\.)*")\s*,\s*"arguments":\s*`)

// newToolStream starts a parser; required means the output is calls only.
func newToolStream(required bool) *toolStream {
	if required {
		return &toolStream{state: tsHead}
	}
	return &toolStream{state: tsUndecided}
}

// push adds text and returns content to send and call deltas.
func (s *toolStream) push(text string) (content string, deltas []ToolCallDelta) {
	s.buf += text
	for {
		switch s.state {
		case tsUndecided:
			switch {
			case strings.HasPrefix(s.buf, inference.ToolCallOpen):
				s.state = tsHead
				continue
			case strings.HasPrefix(inference.ToolCallOpen, s.buf):
				return "", deltas // could still be a call
			}
			s.state = tsText
			continue
		case tsText:
			content, s.buf = s.buf, ""
			return content, deltas
		case tsHead:
			m := callHead.FindStringSubmatchIndex(s.buf)
			if m == nil {
				return "", deltas
			}
			var name string
			json.Unmarshal([]byte(s.buf[m[2]:m[3]]), &name)
			call := ToolCall{ID: newCallID(), Type: "function", Function: ToolCallFunction{Name: name}}
			s.calls = append(s.calls, call)
			deltas = append(deltas, ToolCallDelta{Index: len(s.calls) - 1, ID: call.ID, Type: "function",
				Function: &ToolCallFuncDelta{Name: name, Arguments: ""}})
			s.buf = s.buf[m[1]:]
			s.state, s.depth, s.inStr, s.escaped, s.started = tsArgs, 0, false, false, false
			continue
		case tsArgs:
			n, done := s.scanArgs()
			if n > 0 {
				piece := s.buf[:n]
				i := len(s.calls) - 1
				s.calls[i].Function.Arguments += piece
				deltas = append(deltas, ToolCallDelta{Index: i, Function: &ToolCallFuncDelta{Arguments: piece}})
				s.buf = s.buf[n:]
			}
			if !done {
				return "", deltas
			}
			s.state = tsTail
			continue
		case tsTail:
			end := strings.Index(s.buf, inference.ToolCallClose)
			if end < 0 {
				return "", deltas
			}
			s.buf = s.buf[end+len(inference.ToolCallClose):]
			s.state = tsHead
			continue
		}
		return "", deltas
	}
}

// scanArgs finds how much of buf belongs to the arguments value, and whether the
// value is complete.
func (s *toolStream) scanArgs() (int, bool) {
	for i := 0; i < len(s.buf); i++ {
		c := s.buf[i]
		if !s.started {
			if c == ' ' || c == '\n' || c == '\t' || c == '\r' {
				continue
			}
			s.started = true
		}
		switch {
		case s.inStr:
			switch {
			case s.escaped:
				s.escaped = false
			case c == '\\':
				s.escaped = true
			case c == '"':
				s.inStr = false
				if s.depth == 0 {
					return i + 1, true
				}
			}
		case c == '"':
			s.inStr = true
		case c == '{' || c == '[':
			s.depth++
		case c == '}' || c == ']':
			s.depth--
			if s.depth <= 0 {
				return i + 1, true
			}
		}
	}
	return len(s.buf), false
}

// flush returns text still held back when the generation ends (an answer that was a
// prefix of a call opening, or the unparsed tail of a call cut short).
func (s *toolStream) flush() string {
	if s.state == tsUndecided || s.state == tsText {
		out := s.buf
		s.buf = ""
		return out
	}
	return ""
}

// isCalls reports whether the answer turned out to be tool calls.
func (s *toolStream) isCalls() bool { return len(s.calls) > 0 }
