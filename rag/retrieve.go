package rag

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"unicode/utf8"
)

// Passage is a retrieved chunk for a grounded answer.
type Passage struct {
	Collection string
	DocumentID string
	ChunkID    string
	Content    string
	Score      float64
	Metadata   json.RawMessage
}

// retrievePerCollection is how many chunks each collection offers before the budget
// is applied.
const retrievePerCollection = 8

// EstimateTokens is the budget's token estimate of a text: a token per 4 bytes,
// rounded up (close for English with a BPE vocabulary, and never zero for text).
func EstimateTokens(text string) int { return (len(text) + 3) / 4 }

// Retrieve finds the passages for a grounded answer: a hybrid search of each named
// collection of the tenant (missing ones are skipped), merged by fused score, kept
// while their estimated tokens fit maxTokens. A first passage larger than the whole
// budget is cut to it, so a small budget still grounds the answer.
func (s *Service) Retrieve(ctx context.Context, tenant string, collections []string, query string, maxTokens int) ([]Passage, error) {
	if maxTokens <= 0 || len(collections) == 0 {
		return nil, nil
	}
	if err := checkText("query", query, MaxQueryBytes); err != nil {
		trimmed := query
		if len(trimmed) > MaxQueryBytes {
			trimmed = truncateUTF8(trimmed, MaxQueryBytes)
		}
		if checkText("query", trimmed, MaxQueryBytes) != nil {
			return nil, err
		}
		query = trimmed
	}
	var all []Passage
	seen := map[string]bool{}
	for _, name := range collections {
		if seen[name] {
			continue
		}
		seen[name] = true
		resp, err := s.Search(ctx, tenant, SearchRequest{Collection: name, Query: query, Strategy: Hybrid, TopK: retrievePerCollection})
		var ve *ValidationError
		if errors.Is(err, ErrNotFound) || errors.As(err, &ve) {
			s.log.Info("rag: a collection to retrieve from is missing; skipped", "collection", name, "err", err)
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, r := range resp.Results {
			all = append(all, Passage{Collection: name, DocumentID: r.DocumentID, ChunkID: r.ID, Content: r.Content, Score: r.Score, Metadata: r.Metadata})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Score > all[j].Score })
	var out []Passage
	used := 0
	for _, p := range all {
		t := EstimateTokens(p.Content)
		if used+t > maxTokens {
			if len(out) == 0 {
				p.Content = truncateUTF8(p.Content, maxTokens*4)
				out = append(out, p)
			}
			break
		}
		used += t
		out = append(out, p)
	}
	return out, nil
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
