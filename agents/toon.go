package agents

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// TOON is the ARES agent configuration format: TOML syntax, one agent as top-level keys
// or several as [[agents]] tables, with an optional [toon] (or [agents.toon]) table that
// structures the system prompt into role, personality, knowledge and constraints. The
// decoder here reads the subset of TOML those files use (tables, arrays of tables,
// strings in all four forms, integers, floats, booleans, arrays, comments); anything
// else is a clear error with its line. A JSON object with the same keys is accepted too.

// Toon is the structured prompt of a TOON agent.
type Toon struct {
	Role         string   `json:"role,omitempty"`
	Personality  string   `json:"personality,omitempty"`
	Goal         string   `json:"goal,omitempty"`
	Instructions string   `json:"instructions,omitempty"`
	Knowledge    []string `json:"knowledge,omitempty"`
	Constraints  []string `json:"constraints,omitempty"`
}

// Prompt assembles the system prompt the structured fields describe.
func (t *Toon) Prompt() string {
	var b strings.Builder
	if t.Role != "" {
		fmt.Fprintf(&b, "You are a %s.", strings.TrimSuffix(t.Role, "."))
	}
	if t.Personality != "" {
		fmt.Fprintf(&b, " Your manner: %s.", strings.TrimSuffix(t.Personality, "."))
	}
	if t.Goal != "" {
		fmt.Fprintf(&b, " Your goal: %s.", strings.TrimSuffix(t.Goal, "."))
	}
	if t.Instructions != "" {
		b.WriteString("\n\n" + t.Instructions)
	}
	if len(t.Knowledge) > 0 {
		b.WriteString("\n\nYou know about: " + strings.Join(t.Knowledge, "; ") + ".")
	}
	if len(t.Constraints) > 0 {
		b.WriteString("\n\nConstraints:")
		for _, c := range t.Constraints {
			b.WriteString("\n- " + c)
		}
	}
	return strings.TrimSpace(b.String())
}

// ToonError is a TOON document that cannot be read.
type ToonError struct {
	Line int
	Msg  string
}

func (e *ToonError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("invalid TOON at line %d: %s", e.Line, e.Msg)
	}
	return "invalid TOON: " + e.Msg
}

// MaxToonBytes bounds an imported document.
const MaxToonBytes = 256 << 10

// DecodeTOON reads the agents a TOON (or JSON) document defines. Names and tools are
// checked by the caller; here only the document's shape.
func DecodeTOON(src []byte) ([]Agent, error) {
	if len(src) > MaxToonBytes {
		return nil, &ToonError{Msg: fmt.Sprintf("document larger than %d bytes", MaxToonBytes)}
	}
	if !utf8.Valid(src) {
		return nil, &ToonError{Msg: "document is not UTF-8"}
	}
	var root map[string]any
	if t := bytes.TrimSpace(src); len(t) > 0 && t[0] == '{' {
		d := json.NewDecoder(bytes.NewReader(t))
		d.UseNumber()
		if err := d.Decode(&root); err != nil {
			return nil, &ToonError{Msg: "JSON body: " + err.Error()}
		}
	} else {
		var err error
		if root, err = parseTOML(string(src)); err != nil {
			return nil, err
		}
	}
	var tables []map[string]any
	if v, ok := root["agents"]; ok {
		arr, ok := v.([]any)
		if !ok {
			return nil, &ToonError{Msg: "agents must be an array of tables ([[agents]])"}
		}
		for _, x := range arr {
			m, ok := x.(map[string]any)
			if !ok {
				return nil, &ToonError{Msg: "agents must be an array of tables ([[agents]])"}
			}
			tables = append(tables, m)
		}
	} else {
		tables = []map[string]any{root}
	}
	if len(tables) == 0 {
		return nil, &ToonError{Msg: "no agent defined (expected name = \"...\" or [[agents]])"}
	}
	out := make([]Agent, 0, len(tables))
	for i, m := range tables {
		a, err := agentFromTable(m)
		if err != nil {
			return nil, &ToonError{Msg: fmt.Sprintf("agent %d: %s", i+1, err.Error())}
		}
		out = append(out, a)
	}
	return out, nil
}

func agentFromTable(m map[string]any) (Agent, error) {
	var a Agent
	var err error
	str := func(key string) string {
		if err != nil {
			return ""
		}
		v, ok := m[key]
		if !ok {
			return ""
		}
		s, ok := v.(string)
		if !ok {
			err = fmt.Errorf("%s must be a string", key)
		}
		return s
	}
	a.Name = str("name")
	a.AgentType = str("agent_type")
	a.Config.Model = str("model")
	a.Config.SystemPrompt = str("system_prompt")
	a.Config.Description = str("description")
	if err != nil {
		return a, err
	}
	if a.Config.Tools, err = strList(m, "tools"); err != nil {
		return a, err
	}
	if a.Config.Collections, err = strList(m, "collections"); err != nil {
		return a, err
	}
	if v, ok := m["max_tokens"]; ok {
		n, ok := toInt(v)
		if !ok || n < 0 || n > 1<<20 {
			return a, fmt.Errorf("max_tokens must be a non-negative integer")
		}
		a.Config.MaxTokens = n
	}
	if v, ok := m["toon"]; ok {
		tm, ok := v.(map[string]any)
		if !ok {
			return a, fmt.Errorf("toon must be a table")
		}
		t := &Toon{}
		for k, dst := range map[string]*string{"role": &t.Role, "personality": &t.Personality, "goal": &t.Goal, "instructions": &t.Instructions} {
			if x, ok := tm[k]; ok {
				s, ok := x.(string)
				if !ok {
					return a, fmt.Errorf("toon.%s must be a string", k)
				}
				*dst = s
			}
		}
		if t.Knowledge, err = strList(tm, "knowledge"); err != nil {
			return a, err
		}
		if t.Constraints, err = strList(tm, "constraints"); err != nil {
			return a, err
		}
		// The documented example writes tools after [agents.toon]: they belong to the agent.
		more, err := strList(tm, "tools")
		if err != nil {
			return a, err
		}
		a.Config.Tools = append(a.Config.Tools, more...)
		a.Config.Toon = t
	}
	if a.Config.Tools == nil {
		a.Config.Tools = []string{}
	}
	return a, nil
}

func strList(m map[string]any, key string) ([]string, error) {
	v, ok := m[key]
	if !ok {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s must be an array of strings", key)
	}
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("%s must be an array of strings", key)
		}
		out = append(out, s)
	}
	return out, nil
}

func toInt(v any) (int, bool) {
	switch x := v.(type) {
	case int64:
		return int(x), true
	case json.Number:
		n, err := x.Int64()
		return int(n), err == nil
	}
	return 0, false
}

// EncodeTOON writes a as a TOON document that DecodeTOON reads back to the same agent.
func EncodeTOON(a Agent) []byte {
	var b strings.Builder
	b.WriteString("# ARES agent definition (TOON)\n[[agents]]\n")
	kv := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s = %s\n", k, tomlString(v))
		}
	}
	kv("name", a.Name)
	kv("agent_type", a.AgentType)
	kv("description", a.Config.Description)
	kv("model", a.Config.Model)
	if a.Config.Toon == nil {
		kv("system_prompt", a.Config.SystemPrompt)
	}
	fmt.Fprintf(&b, "tools = %s\n", tomlList(a.Config.Tools))
	if len(a.Config.Collections) > 0 {
		fmt.Fprintf(&b, "collections = %s\n", tomlList(a.Config.Collections))
	}
	if a.Config.MaxTokens > 0 {
		fmt.Fprintf(&b, "max_tokens = %d\n", a.Config.MaxTokens)
	}
	if t := a.Config.Toon; t != nil {
		b.WriteString("\n[agents.toon]\n")
		kv("role", t.Role)
		kv("personality", t.Personality)
		kv("goal", t.Goal)
		kv("instructions", t.Instructions)
		if len(t.Knowledge) > 0 {
			fmt.Fprintf(&b, "knowledge = %s\n", tomlList(t.Knowledge))
		}
		if len(t.Constraints) > 0 {
			fmt.Fprintf(&b, "constraints = %s\n", tomlList(t.Constraints))
		}
	}
	return []byte(b.String())
}

func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func tomlList(xs []string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = tomlString(x)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// --- the TOML subset

type tomlParser struct {
	src  string
	pos  int
	line int
}

func (p *tomlParser) fail(format string, a ...any) error {
	return &ToonError{Line: p.line, Msg: fmt.Sprintf(format, a...)}
}

func parseTOML(src string) (map[string]any, error) {
	p := &tomlParser{src: src, line: 1}
	root := map[string]any{}
	cur := root
	defined := map[string]bool{}
	for {
		p.skipSpaceAndComments(true)
		if p.pos >= len(p.src) {
			return root, nil
		}
		if p.src[p.pos] == '[' {
			array := strings.HasPrefix(p.src[p.pos:], "[[")
			if array {
				p.pos += 2
			} else {
				p.pos++
			}
			keys, err := p.keyPath()
			if err != nil {
				return nil, err
			}
			p.skipInlineSpace()
			closing := "]"
			if array {
				closing = "]]"
			}
			if !strings.HasPrefix(p.src[p.pos:], closing) {
				return nil, p.fail("table header must end with %s", closing)
			}
			p.pos += len(closing)
			if cur, err = p.openTable(root, keys, array, defined); err != nil {
				return nil, err
			}
			if err := p.endOfLine(); err != nil {
				return nil, err
			}
			continue
		}
		keys, err := p.keyPath()
		if err != nil {
			return nil, err
		}
		p.skipInlineSpace()
		if p.pos >= len(p.src) || p.src[p.pos] != '=' {
			return nil, p.fail("expected = after key %q", strings.Join(keys, "."))
		}
		p.pos++
		p.skipInlineSpace()
		v, err := p.value(0)
		if err != nil {
			return nil, err
		}
		t := cur
		for _, k := range keys[:len(keys)-1] {
			next, ok := t[k]
			if !ok {
				m := map[string]any{}
				t[k], next = m, m
			}
			m, ok := next.(map[string]any)
			if !ok {
				return nil, p.fail("key %q is not a table", k)
			}
			t = m
		}
		last := keys[len(keys)-1]
		if _, dup := t[last]; dup {
			return nil, p.fail("key %q defined twice", strings.Join(keys, "."))
		}
		t[last] = v
		if err := p.endOfLine(); err != nil {
			return nil, err
		}
	}
}

// openTable finds or makes the table a header names; for [[x]], a new element of x.
// A path through an array of tables goes into its last element, as TOML says.
func (p *tomlParser) openTable(root map[string]any, keys []string, array bool, defined map[string]bool) (map[string]any, error) {
	t := root
	path := ""
	for i, k := range keys {
		path += "\x00" + k
		last := i == len(keys)-1
		v, ok := t[k]
		if last && array {
			if !ok {
				v = []any{}
			}
			arr, isArr := v.([]any)
			if !isArr {
				return nil, p.fail("%q is not an array of tables", strings.Join(keys, "."))
			}
			if len(arr) >= 1000 {
				return nil, p.fail("too many [[%s]] tables", strings.Join(keys, "."))
			}
			m := map[string]any{}
			t[k] = append(arr, m)
			return m, nil
		}
		if !ok {
			m := map[string]any{}
			t[k] = m
			v = m
		}
		switch x := v.(type) {
		case map[string]any:
			t = x
		case []any:
			if len(x) == 0 {
				return nil, p.fail("%q is not a table", k)
			}
			m, ok := x[len(x)-1].(map[string]any)
			if !ok {
				return nil, p.fail("%q is not a table", k)
			}
			t = m
			path += fmt.Sprintf("\x00#%d", len(x))
		default:
			return nil, p.fail("%q is a value, not a table", k)
		}
	}
	if defined[path] {
		return nil, p.fail("table [%s] defined twice", strings.Join(keys, "."))
	}
	defined[path] = true
	return t, nil
}

func (p *tomlParser) skipInlineSpace() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
}

// skipSpaceAndComments skips blanks and comments, newlines too when nl.
func (p *tomlParser) skipSpaceAndComments(nl bool) {
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			p.pos++
		case c == '\n' && nl:
			p.pos++
			p.line++
		case c == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func (p *tomlParser) endOfLine() error {
	p.skipSpaceAndComments(false)
	if p.pos >= len(p.src) {
		return nil
	}
	if p.src[p.pos] != '\n' {
		return p.fail("unexpected %q after the value (one key = value per line)", p.src[p.pos])
	}
	return nil
}

func (p *tomlParser) keyPath() ([]string, error) {
	var keys []string
	for {
		p.skipInlineSpace()
		if p.pos >= len(p.src) {
			return nil, p.fail("expected a key")
		}
		var k string
		switch c := p.src[p.pos]; {
		case c == '"':
			s, err := p.basicString()
			if err != nil {
				return nil, err
			}
			k = s
		case c == '\'':
			s, err := p.literalString()
			if err != nil {
				return nil, err
			}
			k = s
		default:
			start := p.pos
			for p.pos < len(p.src) && isBareKey(p.src[p.pos]) {
				p.pos++
			}
			if p.pos == start {
				return nil, p.fail("expected a key, found %q", c)
			}
			k = p.src[start:p.pos]
		}
		keys = append(keys, k)
		if len(keys) > 16 {
			return nil, p.fail("key path too deep")
		}
		p.skipInlineSpace()
		if p.pos < len(p.src) && p.src[p.pos] == '.' {
			p.pos++
			continue
		}
		return keys, nil
	}
}

func isBareKey(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func (p *tomlParser) value(depth int) (any, error) {
	if depth > 32 {
		return nil, p.fail("arrays nested too deep")
	}
	if p.pos >= len(p.src) {
		return nil, p.fail("expected a value")
	}
	switch c := p.src[p.pos]; {
	case strings.HasPrefix(p.src[p.pos:], `"""`):
		return p.multiBasic()
	case strings.HasPrefix(p.src[p.pos:], `'''`):
		return p.multiLiteral()
	case c == '"':
		return p.basicString()
	case c == '\'':
		return p.literalString()
	case c == '[':
		p.pos++
		arr := []any{}
		for {
			p.skipSpaceAndComments(true)
			if p.pos >= len(p.src) {
				return nil, p.fail("unterminated array")
			}
			if p.src[p.pos] == ']' {
				p.pos++
				return arr, nil
			}
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			if len(arr) >= 10000 {
				return nil, p.fail("array too long")
			}
			arr = append(arr, v)
			p.skipSpaceAndComments(true)
			if p.pos < len(p.src) && p.src[p.pos] == ',' {
				p.pos++
				continue
			}
			if p.pos < len(p.src) && p.src[p.pos] == ']' {
				continue
			}
			return nil, p.fail("expected , or ] in array")
		}
	case c == '{':
		return nil, p.fail("inline tables are not supported in TOON; use a [table]")
	default:
		start := p.pos
		for p.pos < len(p.src) && !strings.ContainsRune(" \t\r\n#,]", rune(p.src[p.pos])) {
			p.pos++
		}
		tok := p.src[start:p.pos]
		switch tok {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		clean := strings.ReplaceAll(tok, "_", "")
		if n, err := strconv.ParseInt(clean, 10, 64); err == nil {
			return n, nil
		}
		if f, err := strconv.ParseFloat(clean, 64); err == nil && !strings.ContainsAny(clean, "xXpP") {
			return f, nil
		}
		if tok == "" {
			return nil, p.fail("expected a value")
		}
		return nil, p.fail("unsupported value %q (strings need quotes)", truncate(tok, 40))
	}
}

func (p *tomlParser) literalString() (string, error) {
	p.pos++
	start := p.pos
	for p.pos < len(p.src) && p.src[p.pos] != '\'' {
		if p.src[p.pos] == '\n' {
			return "", p.fail("unterminated string")
		}
		p.pos++
	}
	if p.pos >= len(p.src) {
		return "", p.fail("unterminated string")
	}
	s := p.src[start:p.pos]
	p.pos++
	return s, nil
}

func (p *tomlParser) multiLiteral() (string, error) {
	p.pos += 3
	if strings.HasPrefix(p.src[p.pos:], "\n") {
		p.pos++
		p.line++
	} else if strings.HasPrefix(p.src[p.pos:], "\r\n") {
		p.pos += 2
		p.line++
	}
	end := strings.Index(p.src[p.pos:], "'''")
	if end < 0 {
		return "", p.fail("unterminated ''' string")
	}
	s := p.src[p.pos : p.pos+end]
	p.line += strings.Count(s, "\n")
	p.pos += end + 3
	return s, nil
}

func (p *tomlParser) basicString() (string, error) {
	p.pos++
	var b strings.Builder
	for {
		if p.pos >= len(p.src) || p.src[p.pos] == '\n' {
			return "", p.fail("unterminated string")
		}
		c := p.src[p.pos]
		if c == '"' {
			p.pos++
			return b.String(), nil
		}
		if c == '\\' {
			if err := p.escape(&b); err != nil {
				return "", err
			}
			continue
		}
		b.WriteByte(c)
		p.pos++
	}
}

func (p *tomlParser) multiBasic() (string, error) {
	p.pos += 3
	if strings.HasPrefix(p.src[p.pos:], "\n") {
		p.pos++
		p.line++
	} else if strings.HasPrefix(p.src[p.pos:], "\r\n") {
		p.pos += 2
		p.line++
	}
	var b strings.Builder
	for {
		if p.pos >= len(p.src) {
			return "", p.fail(`unterminated """ string`)
		}
		if strings.HasPrefix(p.src[p.pos:], `"""`) {
			p.pos += 3
			// Up to two more quotes belong to the string.
			for i := 0; i < 2 && p.pos < len(p.src) && p.src[p.pos] == '"'; i++ {
				b.WriteByte('"')
				p.pos++
			}
			return b.String(), nil
		}
		c := p.src[p.pos]
		if c == '\\' {
			// A line-ending backslash trims the newline and following whitespace.
			j := p.pos + 1
			for j < len(p.src) && (p.src[j] == ' ' || p.src[j] == '\t' || p.src[j] == '\r') {
				j++
			}
			if j < len(p.src) && p.src[j] == '\n' {
				p.pos = j
				for p.pos < len(p.src) && strings.IndexByte(" \t\r\n", p.src[p.pos]) >= 0 {
					if p.src[p.pos] == '\n' {
						p.line++
					}
					p.pos++
				}
				continue
			}
			if err := p.escape(&b); err != nil {
				return "", err
			}
			continue
		}
		if c == '\n' {
			p.line++
		}
		b.WriteByte(c)
		p.pos++
	}
}

func (p *tomlParser) escape(b *strings.Builder) error {
	if p.pos+1 >= len(p.src) {
		return p.fail("unterminated escape")
	}
	c := p.src[p.pos+1]
	p.pos += 2
	switch c {
	case 'n':
		b.WriteByte('\n')
	case 't':
		b.WriteByte('\t')
	case 'r':
		b.WriteByte('\r')
	case 'b':
		b.WriteByte('\b')
	case 'f':
		b.WriteByte('\f')
	case '"':
		b.WriteByte('"')
	case '\\':
		b.WriteByte('\\')
	case 'u', 'U':
		n := 4
		if c == 'U' {
			n = 8
		}
		if p.pos+n > len(p.src) {
			return p.fail("short \\%c escape", c)
		}
		v, err := strconv.ParseUint(p.src[p.pos:p.pos+n], 16, 32)
		if err != nil || !utf8.ValidRune(rune(v)) {
			return p.fail("bad \\%c escape", c)
		}
		b.WriteRune(rune(v))
		p.pos += n
	default:
		return p.fail("unknown escape \\%c", c)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
