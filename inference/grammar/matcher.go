package grammar

// stack is one parse stack, persistent (stacks share their tails). Its top is always
// a byte-set element; a nil *stack is a finished parse.
type stack struct {
	pos  int32
	next *stack
}

// Matcher tracks which parses of a grammar are consistent with the bytes fed so far.
// It is not safe for concurrent use; its Grammar is.
type Matcher struct {
	g      *Grammar
	stacks []*stack
}

// NewMatcher starts matching at the grammar's root.
func (g *Grammar) NewMatcher() *Matcher {
	m := &Matcher{g: g}
	cont := &stack{pos: -1} // sentinel: below the root
	var ok bool
	budget := maxWork
	m.stacks, ok = g.expandRef(g.root, cont, nil, 0, &budget)
	if !ok {
		m.stacks = nil
	}
	for i, s := range m.stacks {
		if s == cont {
			m.stacks[i] = nil
		}
	}
	return m
}

// expandRef pushes rule r's alternatives over the continuation next.
func (g *Grammar) expandRef(r int32, next *stack, out []*stack, depth int, budget *int) ([]*stack, bool) {
	if depth > maxExpand {
		return out, false
	}
	for _, start := range g.alts[r] {
		var ok bool
		if out, ok = g.expand(start, next, out, depth+1, budget); !ok {
			return out, false
		}
	}
	return out, true
}

// expand normalises position pos over next into stacks whose top is a byte set (or the
// finished parse) and appends them to out.
func (g *Grammar) expand(pos int32, next *stack, out []*stack, depth int, budget *int) ([]*stack, bool) {
	*budget--
	if depth > maxExpand || len(out) >= MaxStacks || *budget < 0 {
		return out, false
	}
	if pos < 0 { // the root's continuation: a finished parse
		return addStack(out, nil), true
	}
	switch e := &g.elems[pos]; e.kind {
	case kindChars:
		return addStack(out, &stack{pos: pos, next: next}), true
	case kindEnd:
		if next == nil || next.pos < 0 {
			return addStack(out, nil), true
		}
		return g.expand(next.pos, next.next, out, depth+1, budget)
	default:
		cont := &stack{pos: pos + 1, next: next}
		if g.elems[pos+1].kind == kindEnd {
			cont = next // tail call: nothing follows the ref in this alternative
		}
		return g.expandRef(e.rule, cont, out, depth+1, budget)
	}
}

func addStack(out []*stack, s *stack) []*stack {
	for _, o := range out {
		if o == s || (o != nil && s != nil && o.pos == s.pos && o.next == s.next) {
			return out
		}
	}
	return append(out, s)
}

// advance returns the stacks after byte c; empty when c is refused.
func (g *Grammar) advance(stacks []*stack, c byte, out []*stack) []*stack {
	out = out[:0]
	budget := maxWork
	for _, s := range stacks {
		if s == nil {
			continue
		}
		e := &g.elems[s.pos]
		if e.set[c>>6]&(1<<(c&63)) == 0 {
			continue
		}
		var ok bool
		if out, ok = g.expand(s.pos+1, s.next, out, 0, &budget); !ok {
			return out[:0]
		}
	}
	return out
}

// Accept feeds b. When the grammar refuses any byte of it, Accept returns false and the
// matcher is unchanged.
func (m *Matcher) Accept(b []byte) bool {
	cur := m.stacks
	for _, c := range b {
		cur = m.g.advance(cur, c, nil)
		if len(cur) == 0 {
			return false
		}
	}
	m.stacks = cur
	return true
}

// CanAccept reports whether Accept(b) would succeed, without changing the matcher.
func (m *Matcher) CanAccept(b []byte) bool {
	cur := m.stacks
	for _, c := range b {
		cur = m.g.advance(cur, c, nil)
		if len(cur) == 0 {
			return false
		}
	}
	return true
}

// Done reports whether the bytes so far form a complete sentence of the grammar.
func (m *Matcher) Done() bool {
	for _, s := range m.stacks {
		if s == nil {
			return true
		}
	}
	return false
}

// Final reports whether the sentence is complete and nothing may follow it.
func (m *Matcher) Final() bool {
	for _, s := range m.stacks {
		if s != nil {
			return false
		}
	}
	return len(m.stacks) > 0
}

// Dead reports whether no continuation is possible (a refused start, never reached
// through Accept).
func (m *Matcher) Dead() bool { return len(m.stacks) == 0 }

// Match reports whether s is a complete sentence of g.
func (g *Grammar) Match(s []byte) bool {
	m := g.NewMatcher()
	return m.Accept(s) && m.Done()
}
