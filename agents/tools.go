package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Tool is something the tool loop can run for a model.
type Tool interface {
	Spec() ToolSpec
	Call(ctx context.Context, arguments json.RawMessage) (any, error)
}

// Tools is a set of tools by name.
type Tools map[string]Tool

// DefaultTools are the documented built-ins: calculator, and web_search on backend
// (nil: the tool answers that search is not configured).
func DefaultTools(search SearchBackend) Tools {
	return Tools{"calculator": CalculatorTool{}, "web_search": WebSearchTool{Backend: search}}
}

// CalculatorTool evaluates arithmetic exactly (see Calculate).
type CalculatorTool struct{}

func (CalculatorTool) Spec() ToolSpec {
	return ToolSpec{Type: "function", Function: FunctionSpec{
		Name:        "calculator",
		Description: "Evaluate a mathematical expression exactly. Operators + - * / ^ (or **) and parentheses; functions sqrt, sin, cos, log (base 10), ln, abs; constants pi, e.",
		Parameters:  json.RawMessage(`{"type":"object","properties":{"expression":{"type":"string","maxLength":200,"description":"the expression, e.g. 50000 * (1.15 ^ 10)"}},"required":["expression"]}`),
	}}
}

func (CalculatorTool) Call(_ context.Context, args json.RawMessage) (any, error) {
	var a struct {
		Expression string `json:"expression"`
	}
	if err := json.Unmarshal(args, &a); err != nil || strings.TrimSpace(a.Expression) == "" {
		return nil, errors.New(`calculator needs {"expression": "..."}`)
	}
	v, err := Calculate(a.Expression)
	if err != nil {
		return nil, err
	}
	return map[string]any{"result": json.Number(v)}, nil
}

// SearchResult is one web_search hit.
type SearchResult struct {
	Title   string `json:"title"`
	URL     string `json:"url"`
	Snippet string `json:"snippet"`
}

// SearchBackend answers web searches.
type SearchBackend interface {
	Search(ctx context.Context, query string, limit int) ([]SearchResult, error)
}

// ErrSearchNotConfigured is what the model receives when the node has no search backend.
var ErrSearchNotConfigured = errors.New("web_search is not configured on this node (the owner sets ARIA_SEARCH_URL to a SearXNG-compatible JSON search endpoint)")

// WebSearchTool searches the web through its backend.
type WebSearchTool struct{ Backend SearchBackend }

func (WebSearchTool) Spec() ToolSpec {
	return ToolSpec{Type: "function", Function: FunctionSpec{
		Name:        "web_search",
		Description: "Search the web for current information; returns titles, URLs and snippets.",
		Parameters:  json.RawMessage(`{"type":"object","properties":{"query":{"type":"string","maxLength":300}},"required":["query"]}`),
	}}
}

func (t WebSearchTool) Call(ctx context.Context, args json.RawMessage) (any, error) {
	var a struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(args, &a); err != nil || strings.TrimSpace(a.Query) == "" {
		return nil, errors.New(`web_search needs {"query": "..."}`)
	}
	if t.Backend == nil {
		return nil, ErrSearchNotConfigured
	}
	rs, err := t.Backend.Search(ctx, a.Query, 5)
	if err != nil {
		return nil, err
	}
	if rs == nil {
		rs = []SearchResult{}
	}
	return map[string]any{"results": rs}, nil
}

// HTTPSearch is a SearXNG-compatible backend: GET {URL}?q=...&format=json answering
// {"results":[{"title","url","content"}]}.
type HTTPSearch struct {
	URL    string
	Client *http.Client
}

func (s HTTPSearch) Search(ctx context.Context, query string, limit int) ([]SearchResult, error) {
	u, err := url.Parse(s.URL)
	if err != nil {
		return nil, fmt.Errorf("search backend URL: %w", err)
	}
	q := u.Query()
	q.Set("q", query)
	q.Set("format", "json")
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	c := s.Client
	if c == nil {
		c = &http.Client{Timeout: 20 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("search backend: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("search backend answered HTTP %d", resp.StatusCode)
	}
	var body struct {
		Results []struct {
			Title   string `json:"title"`
			URL     string `json:"url"`
			Content string `json:"content"`
			Snippet string `json:"snippet"`
		} `json:"results"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&body); err != nil {
		return nil, fmt.Errorf("search backend answered something that is not JSON results: %w", err)
	}
	out := make([]SearchResult, 0, min(limit, len(body.Results)))
	for _, r := range body.Results {
		if len(out) == limit {
			break
		}
		sn := r.Content
		if sn == "" {
			sn = r.Snippet
		}
		out = append(out, SearchResult{Title: r.Title, URL: r.URL, Snippet: sn})
	}
	return out, nil
}
