package node

import (
	"context"
	"encoding/json"

	"github.com/aria-node/aria/agents"
	"github.com/aria-node/aria/rag"
)

// ragRetriever is agents' Retriever on the rag service: an agent or chat configured
// with collections answers from the tenant's passages (hybrid search, within the
// token budget) and returns them as sources.
type ragRetriever struct{ svc *rag.Service }

var _ agents.Retriever = ragRetriever{}

func (r ragRetriever) Retrieve(ctx context.Context, tenantID string, collections []string, query string, maxTokens int) ([]agents.Source, error) {
	ps, err := r.svc.Retrieve(ctx, tenantID, collections, query, maxTokens)
	if err != nil {
		return nil, err
	}
	out := make([]agents.Source, len(ps))
	for i, p := range ps {
		out[i] = agents.Source{Collection: p.Collection, DocumentID: p.DocumentID, Content: p.Content, Score: p.Score}
		if len(p.Metadata) > 0 {
			var m map[string]any
			if json.Unmarshal(p.Metadata, &m) == nil && len(m) > 0 {
				out[i].Metadata = m
			}
		}
	}
	return out, nil
}
