package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func jsonMarshal(v any) (json.RawMessage, error) { return json.Marshal(v) }

// CycleError is a workflow whose delegation graph loops.
type CycleError struct {
	Workflow string
	Path     []string
}

func (e *CycleError) Error() string {
	return fmt.Sprintf("workflow %q is cyclic: %s", e.Workflow, strings.Join(e.Path, " -> "))
}

// ValidateWorkflow checks a workflow: a name, an entry, and an acyclic graph.
func ValidateWorkflow(w Workflow) error {
	if !ValidAgentName(w.Name) {
		return &InputError{Msg: fmt.Sprintf("Invalid workflow name '%s'", w.Name)}
	}
	if w.Entry == "" {
		return &InputError{Msg: fmt.Sprintf("workflow %q has no entry agent", w.Name)}
	}
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var path []string
	var visit func(n string) error
	visit = func(n string) error {
		color[n] = grey
		path = append(path, n)
		for _, m := range w.Next[n] {
			switch color[m] {
			case grey:
				i := 0
				for path[i] != m {
					i++
				}
				return &CycleError{Workflow: w.Name, Path: append(append([]string{}, path[i:]...), m)}
			case white:
				if err := visit(m); err != nil {
					return err
				}
			}
		}
		path = path[:len(path)-1]
		color[n] = black
		return nil
	}
	for _, n := range append([]string{w.Entry}, sortedKeys(w.Next)...) {
		if color[n] == white {
			if err := visit(n); err != nil {
				return err
			}
		}
	}
	return nil
}

// AddWorkflow registers (or replaces) a workflow after validating it.
func (s *Service) AddWorkflow(w Workflow) error {
	if err := ValidateWorkflow(w); err != nil {
		return err
	}
	if w.MaxSteps <= 0 {
		w.MaxSteps = 8
	}
	s.mu.Lock()
	s.workflows[w.Name] = w
	s.mu.Unlock()
	return nil
}

// Workflows lists the workflow names.
func (s *Service) Workflows() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return sortedKeys(s.workflows)
}

// WorkflowStep is one entry of a workflow's reasoning path.
type WorkflowStep struct {
	Agent  string `json:"agent"`
	Action string `json:"action"`
}

// WorkflowResult is what a workflow produced.
type WorkflowResult struct {
	FinalResponse string         `json:"final_response"`
	StepsExecuted int            `json:"steps_executed"`
	AgentsUsed    []string       `json:"agents_used"`
	ReasoningPath []WorkflowStep `json:"reasoning_path"`
	TokensUsed    int            `json:"tokens_used"`
}

var delegateRe = regexp.MustCompile(`(?i)\bDELEGATE:\s*([A-Za-z0-9_-]+)`)

// RunWorkflow passes query through the workflow's agents: the entry agent picks one of
// its next agents (by naming it; the first is the fallback), a specialist answers and
// may hand over with "DELEGATE: name" to one of its own next agents. No agent runs
// twice and at most MaxSteps agents run.
func (s *Service) RunWorkflow(ctx context.Context, tenantID, name, query string, wctx map[string]any, usage func(int, int)) (WorkflowResult, error) {
	s.mu.RLock()
	w, ok := s.workflows[name]
	s.mu.RUnlock()
	if !ok {
		return WorkflowResult{}, &NotFoundError{Msg: "Workflow not found: " + name}
	}
	if strings.TrimSpace(query) == "" {
		return WorkflowResult{}, &InputError{Msg: "query is required"}
	}
	res := WorkflowResult{AgentsUsed: []string{}, ReasoningPath: []WorkflowStep{}}
	ctxText := ""
	if len(wctx) > 0 {
		b, _ := json.Marshal(wctx)
		ctxText = "\n\nContext (JSON): " + string(b)
	}
	visited := map[string]bool{}
	cur, notes := w.Entry, ""
	for step := 0; ; step++ {
		if visited[cur] {
			return res, &CycleError{Workflow: name, Path: append(append([]string{}, res.AgentsUsed...), cur)}
		}
		if step >= w.MaxSteps {
			break
		}
		visited[cur] = true
		a, err := s.Agent(ctx, tenantID, cur)
		if err != nil {
			return res, fmt.Errorf("workflow %s: %w", name, err)
		}
		next := w.Next[cur]
		sys := a.Config.SystemPrompt
		if len(next) > 0 {
			sys += "\n\nYou may hand the task to one of these agents: " + strings.Join(next, ", ") +
				". To do so, end your answer with a line 'DELEGATE: <agent>'."
		}
		user := query + ctxText
		if notes != "" {
			user += "\n\nNotes from the previous agents:\n" + notes
		}
		lr, err := RunLoop(ctx, s.model, s.loop, ModelRequest{Model: a.Config.Model, TenantID: tenantID, MaxTokens: a.Config.MaxTokens,
			Messages: []Message{{Role: "system", Content: sys}, {Role: "user", Content: user}}}, s.agentTools(a), nil)
		if usage != nil {
			usage(lr.PromptTokens, lr.CompletionTokens)
		}
		res.TokensUsed += lr.Tokens()
		if err != nil {
			return res, fmt.Errorf("workflow %s, agent %s: %w", name, cur, err)
		}
		res.StepsExecuted++
		res.AgentsUsed = append(res.AgentsUsed, cur)
		answer := strings.TrimSpace(lr.Text)
		pick := ""
		if m := delegateRe.FindStringSubmatch(answer); m != nil && contains(next, m[1]) {
			pick = m[1]
			answer = strings.TrimSpace(delegateRe.ReplaceAllString(answer, ""))
		} else if cur == w.Entry && len(next) > 0 {
			// The entry agent routes: the agent it names, else the first.
			if pick = PickName(answer, next); pick == "" {
				pick = next[0]
			}
		}
		action := truncate(strings.Join(strings.Fields(answer), " "), 300)
		if pick != "" {
			action = strings.TrimSpace(action + " Routing to " + pick + ".")
		}
		res.ReasoningPath = append(res.ReasoningPath, WorkflowStep{Agent: cur, Action: action})
		if cur != w.Entry || len(next) == 0 {
			res.FinalResponse = answer
			notes += fmt.Sprintf("[%s] %s\n", cur, truncate(answer, 2000))
		}
		if pick == "" {
			break
		}
		cur = pick
	}
	return res, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// ResearchRequest is POST /api/research.
type ResearchRequest struct {
	Query         string
	Depth         int // default 3
	MaxIterations int // default 5; hard cap on agent invocations
}

// ResearchResult is the research answer.
type ResearchResult struct {
	Findings    string   `json:"findings"`
	Sources     []string `json:"sources"`
	DurationMS  int64    `json:"duration_ms"`
	Invocations int      `json:"agent_invocations"`
	TokensUsed  int      `json:"tokens_used"`
}

// Research investigates a query as a tree: at depth 1 the research agent answers; deeper,
// it splits the question into sub-questions answered (in parallel) by sub-agents that
// may split again, then synthesises. MaxIterations caps agent invocations over the
// whole tree: when the budget would run out, a branch answers directly instead of
// expanding, and one invocation is always kept for the synthesis.
func (s *Service) Research(ctx context.Context, tenantID string, req ResearchRequest, usage func(int, int)) (ResearchResult, error) {
	if strings.TrimSpace(req.Query) == "" {
		return ResearchResult{}, &InputError{Msg: "query is required"}
	}
	if req.Depth == 0 {
		req.Depth = 3
	}
	if req.MaxIterations == 0 {
		req.MaxIterations = 5
	}
	if req.Depth < 1 || req.Depth > 6 {
		return ResearchResult{}, &InputError{Msg: "depth must be between 1 and 6"}
	}
	if req.MaxIterations < 1 || req.MaxIterations > 50 {
		return ResearchResult{}, &InputError{Msg: "max_iterations must be between 1 and 50"}
	}
	a, err := s.Agent(ctx, tenantID, "research")
	if err != nil {
		return ResearchResult{}, err
	}
	start := time.Now()
	r := &researcher{s: s, a: a, tenant: tenantID, budget: int64(req.MaxIterations), usage: usage, sources: map[string]bool{}}
	text, err := r.investigate(ctx, req.Query, req.Depth, req.MaxIterations)
	out := ResearchResult{Findings: text, DurationMS: time.Since(start).Milliseconds(), Invocations: int(r.used.Load()), TokensUsed: int(r.tokens.Load())}
	out.Sources = sortedKeys(r.sources)
	if err != nil {
		return out, err
	}
	return out, nil
}

type researcher struct {
	s       *Service
	a       Agent
	tenant  string
	budget  int64
	used    atomic.Int64
	tokens  atomic.Int64
	usage   func(int, int)
	mu      sync.Mutex
	sources map[string]bool
}

func (r *researcher) call(ctx context.Context, sys, user string, tools Tools) (string, error) {
	if r.used.Add(1) > r.budget { // never reached: shares add up to the budget
		return "", errors.New("research budget exhausted")
	}
	lr, err := RunLoop(ctx, r.s.model, r.s.loop, ModelRequest{Model: r.a.Config.Model, TenantID: r.tenant, MaxTokens: r.a.Config.MaxTokens,
		Messages: []Message{{Role: "system", Content: sys}, {Role: "user", Content: user}}}, tools, nil)
	if r.usage != nil {
		r.usage(lr.PromptTokens, lr.CompletionTokens)
	}
	r.tokens.Add(int64(lr.Tokens()))
	r.collect(lr.Steps)
	return lr.Text, err
}

// collect keeps the titles and URLs web_search returned as sources.
func (r *researcher) collect(steps []Step) {
	for _, st := range steps {
		if st.Tool != "web_search" || st.Result == "" {
			continue
		}
		var v struct {
			Results []SearchResult `json:"results"`
		}
		if json.Unmarshal([]byte(st.Result), &v) != nil {
			continue
		}
		r.mu.Lock()
		for _, x := range v.Results {
			src := strings.TrimSpace(x.Title + " " + x.URL)
			if src != "" && len(r.sources) < 100 {
				r.sources[src] = true
			}
		}
		r.mu.Unlock()
	}
}

var subQuestionRe = regexp.MustCompile(`^\s*(?:[-*•]|\d+[.)])\s*(.+?)\s*$`)

// investigate answers q spending at most budget agent invocations: directly at depth 1
// or with fewer than 3 to spend; else one to split into sub-questions, one to
// synthesise, and the rest shared among the sub-questions, which run in parallel.
func (r *researcher) investigate(ctx context.Context, q string, depth, budget int) (string, error) {
	tools := r.s.agentTools(r.a)
	if depth <= 1 || budget < 3 {
		return r.call(ctx, r.a.Config.SystemPrompt, q, tools)
	}
	plan, err := r.call(ctx, r.a.Config.SystemPrompt+"\n\nList up to 3 focused sub-questions that together answer the question, one per line, nothing else.", q, nil)
	if err != nil {
		return "", err
	}
	var subs []string
	for _, line := range strings.Split(plan, "\n") {
		line = strings.TrimSpace(line)
		if m := subQuestionRe.FindStringSubmatch(line); m != nil {
			line = m[1]
		}
		if len(line) > 3 && len(subs) < 3 {
			subs = append(subs, truncate(line, 500))
		}
	}
	if len(subs) == 0 {
		subs = []string{q}
	}
	rest := budget - 2
	subs = subs[:min(len(subs), rest)]
	answers := make([]string, len(subs))
	errs := make([]error, len(subs))
	var wg sync.WaitGroup
	for i, sq := range subs {
		share := rest / len(subs)
		if i < rest%len(subs) {
			share++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], errs[i] = r.investigate(ctx, sq, depth-1, share)
		}()
	}
	wg.Wait()
	var b strings.Builder
	for i, sq := range subs {
		if errs[i] != nil {
			continue
		}
		fmt.Fprintf(&b, "### %s\n%s\n\n", sq, answers[i])
	}
	if b.Len() == 0 {
		return "", errors.Join(errs...)
	}
	return r.call(ctx, r.a.Config.SystemPrompt+"\n\nSynthesise the findings below into one structured Markdown answer to the question, with a Sources section.",
		"Question: "+q+"\n\nFindings:\n"+b.String(), nil)
}

// --- memory

// MemoryFact is something the platform learned about a user from what they said.
type MemoryFact struct {
	Kind      string    `json:"kind"`
	Value     string    `json:"value"`
	Source    string    `json:"source"` // conversation id
	LearnedAt time.Time `json:"learned_at"`
}

// Memory is what the platform remembers about a user, derived from their stored
// conversations (deleting a conversation forgets what came from it). It is not the
// node's intentions, which are prospective reminders.
type Memory struct {
	UserID        string         `json:"user_id"`
	Preferences   []MemoryFact   `json:"preferences"`
	Facts         []MemoryFact   `json:"facts"`
	Conversations int            `json:"conversations"`
	AgentsUsed    map[string]int `json:"agents_used"`
	LastActive    *time.Time     `json:"last_active"`
}

var memoryPatterns = []struct {
	kind string
	pref bool
	re   *regexp.Regexp
}{
	{"name", false, regexp.MustCompile(`(?i)\b(?:my name is|call me)\s+([\p{L}][\p{L}' -]{0,40}?)(?:[.,!?;]|$)`)},
	{"location", false, regexp.MustCompile(`(?i)\bI live in\s+([^.,!?;\n]{2,60})`)},
	{"work", false, regexp.MustCompile(`(?i)\bI work (?:at|for|as|in)\s+([^.,!?;\n]{2,60})`)},
	{"prefers", true, regexp.MustCompile(`(?i)\bI (?:prefer|like|love|want)\s+([^.,!?;\n]{2,80})`)},
	{"dislikes", true, regexp.MustCompile(`(?i)\bI (?:dislike|hate|don't like|do not like)\s+([^.,!?;\n]{2,80})`)},
}

// Memory derives a user's memory from their most recent conversations.
func (s *Service) Memory(ctx context.Context, tenantID, userID string) (Memory, error) {
	convs, err := s.store.Conversations(ctx, tenantID, userID)
	if err != nil {
		return Memory{}, err
	}
	m := Memory{UserID: userID, Preferences: []MemoryFact{}, Facts: []MemoryFact{}, Conversations: len(convs), AgentsUsed: map[string]int{}}
	seen := map[string]bool{}
	for i, c := range convs {
		if c.Agent != "" {
			m.AgentsUsed[c.Agent]++
		}
		if i == 0 {
			t := c.UpdatedAt
			m.LastActive = &t
		}
		if i >= 50 { // the 50 most recent conversations are read for facts
			continue
		}
		full, err := s.store.Conversation(ctx, tenantID, userID, c.ID)
		if err != nil {
			continue
		}
		for j := len(full.Messages) - 1; j >= 0; j-- {
			msg := full.Messages[j]
			if msg.Role != "user" {
				continue
			}
			for _, p := range memoryPatterns {
				for _, sm := range p.re.FindAllStringSubmatch(msg.Content, 4) {
					v := strings.TrimSpace(sm[1])
					key := p.kind + "\x00" + strings.ToLower(v)
					// Newest first: a single-valued fact is the latest said.
					if seen[key] || (!p.pref && seen[p.kind]) {
						continue
					}
					seen[key], seen[p.kind] = true, true
					f := MemoryFact{Kind: p.kind, Value: v, Source: c.ID, LearnedAt: full.UpdatedAt}
					if p.pref {
						m.Preferences = append(m.Preferences, f)
					} else {
						m.Facts = append(m.Facts, f)
					}
				}
			}
		}
	}
	sort.SliceStable(m.Facts, func(i, j int) bool { return m.Facts[i].Kind < m.Facts[j].Kind })
	return m, nil
}
