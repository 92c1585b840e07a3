package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/aria-node/aria/agents"
)

var (
	// bAgents (shared with tenancy's provisioning) holds tenant/name -> Agent.
	bRuns         = []byte("ares_agent_runs")      // tenant/agent/started(8 BE)/id -> Run
	bRunStats     = []byte("ares_agent_run_stats") // tenant/agent -> RunStats
	bConversation = []byte("ares_conversations")   // tenant/user/id -> Conversation
)

// AgentsStore is agents.Store on a bbolt database the caller owns.
type AgentsStore struct{ db *bbolt.DB }

var _ agents.Store = (*AgentsStore)(nil)

// NewAgentsStore creates the agents' buckets in db.
func NewAgentsStore(db *bbolt.DB) (*AgentsStore, error) {
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bAgents, bRuns, bRunStats, bConversation} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("agents buckets: %w", err)
	}
	return &AgentsStore{db: db}, nil
}

func (s *AgentsStore) view(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return guard(func() error { return s.db.View(fn) })
}

func (s *AgentsStore) update(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return guard(func() error { return s.db.Update(fn) })
}

func scanPrefix[T any](b *bbolt.Bucket, prefix []byte, fn func(T) error) error {
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var x T
		if err := json.Unmarshal(v, &x); err != nil {
			return fmt.Errorf("record %q: %w", k, err)
		}
		if err := fn(x); err != nil {
			return err
		}
	}
	return nil
}

func (s *AgentsStore) Agents(ctx context.Context, tenantID string) (out []agents.Agent, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		return scanPrefix(tx.Bucket(bAgents), []byte(tenantID+"/"), func(a agents.Agent) error {
			out = append(out, a)
			return nil
		})
	})
	return out, err // keys sort by name within a tenant
}

func (s *AgentsStore) AllAgents(ctx context.Context) (out []agents.Agent, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		return scanPrefix(tx.Bucket(bAgents), nil, func(a agents.Agent) error {
			out = append(out, a)
			return nil
		})
	})
	return out, err
}

func (s *AgentsStore) Agent(ctx context.Context, tenantID, name string) (a agents.Agent, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket(bAgents).Get(pair(tenantID, name))
		if v == nil {
			return agents.ErrNotFound
		}
		return json.Unmarshal(v, &a)
	})
	return a, err
}

func (s *AgentsStore) CreateAgent(ctx context.Context, a agents.Agent) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		if tx.Bucket(bTenants) != nil && tx.Bucket(bTenants).Get([]byte(a.TenantID)) == nil {
			return fmt.Errorf("tenant %s: %w", a.TenantID, agents.ErrNotFound)
		}
		b := tx.Bucket(bAgents)
		if b.Get(pair(a.TenantID, a.Name)) != nil {
			return fmt.Errorf("agent %s: %w", a.Name, agents.ErrConflict)
		}
		return put(b, pair(a.TenantID, a.Name), a)
	})
}

func (s *AgentsStore) UpdateAgent(ctx context.Context, a agents.Agent) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bAgents)
		if b.Get(pair(a.TenantID, a.Name)) == nil {
			return agents.ErrNotFound
		}
		return put(b, pair(a.TenantID, a.Name), a)
	})
}

func (s *AgentsStore) DeleteAgent(ctx context.Context, tenantID, name string) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bAgents)
		if b.Get(pair(tenantID, name)) == nil {
			return agents.ErrNotFound
		}
		return b.Delete(pair(tenantID, name))
	})
}

func runKey(r agents.Run) []byte {
	k := []byte(r.TenantID + "/" + r.AgentName + "/")
	k = binary.BigEndian.AppendUint64(k, uint64(r.StartedAt.UnixNano()))
	return append(k, r.ID...)
}

// statsRecord is RunStats as stored (its JSON hides the sums).
type statsRecord struct {
	Total, OK, Failed, Duration, Tokens int64
	Last                                time.Time
}

func (s *AgentsStore) AddRun(ctx context.Context, r agents.Run) error {
	return s.update(ctx, func(tx *bbolt.Tx) error { return addRun(tx, r) })
}

// SaveTurn saves a chat turn's conversation and run in one transaction.
func (s *AgentsStore) SaveTurn(ctx context.Context, c agents.Conversation, r agents.Run) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		if err := put(tx.Bucket(bConversation), convKey(c.TenantID, c.UserID, c.ID), c); err != nil {
			return err
		}
		return addRun(tx, r)
	})
}

func addRun(tx *bbolt.Tx, r agents.Run) error {
	if err := put(tx.Bucket(bRuns), runKey(r), r); err != nil {
		return err
	}
	sb := tx.Bucket(bRunStats)
	var st statsRecord
	if v := sb.Get(pair(r.TenantID, r.AgentName)); v != nil {
		if err := json.Unmarshal(v, &st); err != nil {
			return err
		}
	}
	st.Total++
	if r.Status == "completed" {
		st.OK++
	} else {
		st.Failed++
	}
	st.Duration += r.DurationMS
	st.Tokens += r.TokensUsed
	if r.StartedAt.After(st.Last) {
		st.Last = r.StartedAt
	}
	return put(sb, pair(r.TenantID, r.AgentName), st)
}

func (s *AgentsStore) Runs(ctx context.Context, tenantID, agentName string, offset, limit int) (out []agents.Run, total int, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		prefix := []byte(tenantID + "/" + agentName + "/")
		c := tx.Bucket(bRuns).Cursor()
		// Walk newest first: from just past the prefix, backwards.
		end := append(append([]byte{}, prefix...), 0xff)
		k, v := c.Seek(end)
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
			if len(k) < len(prefix)+8 { // another agent whose name extends this one's
				continue
			}
			if total >= offset && len(out) < limit {
				var r agents.Run
				if err := json.Unmarshal(v, &r); err != nil {
					return err
				}
				out = append(out, r)
			}
			total++
		}
		return nil
	})
	return out, total, err
}

func (s *AgentsStore) RunStats(ctx context.Context, tenantID, agentName string) (st agents.RunStats, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket(bRunStats).Get(pair(tenantID, agentName))
		if v == nil {
			return nil
		}
		var r statsRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		st = agents.RunStats{TotalRuns: r.Total, SuccessfulRuns: r.OK, FailedRuns: r.Failed, TotalDuration: r.Duration, TotalTokens: r.Tokens, LastRun: r.Last}
		return nil
	})
	return st, err
}

func convKey(tenantID, userID, id string) []byte { return []byte(tenantID + "/" + userID + "/" + id) }

func (s *AgentsStore) SaveConversation(ctx context.Context, c agents.Conversation) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		return put(tx.Bucket(bConversation), convKey(c.TenantID, c.UserID, c.ID), c)
	})
}

func (s *AgentsStore) Conversation(ctx context.Context, tenantID, userID, id string) (c agents.Conversation, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket(bConversation).Get(convKey(tenantID, userID, id))
		if v == nil {
			return agents.ErrNotFound
		}
		return json.Unmarshal(v, &c)
	})
	return c, err
}

func (s *AgentsStore) Conversations(ctx context.Context, tenantID, userID string) (out []agents.Conversation, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		prefix := []byte(tenantID + "/" + userID + "/")
		return scanPrefix(tx.Bucket(bConversation), prefix, func(c agents.Conversation) error {
			if c.TenantID == tenantID && c.UserID == userID {
				c.Messages = nil
				out = append(out, c)
			}
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].UpdatedAt.After(out[j].UpdatedAt) })
	return out, err
}

func (s *AgentsStore) DeleteConversation(ctx context.Context, tenantID, userID, id string) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bConversation)
		if b.Get(convKey(tenantID, userID, id)) == nil {
			return agents.ErrNotFound
		}
		return b.Delete(convKey(tenantID, userID, id))
	})
}
