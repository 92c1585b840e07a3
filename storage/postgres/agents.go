package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aria-node/aria/agents"
)

// AgentsStore is agents.Store on the same PostgreSQL database as Store.
type AgentsStore struct{ s *Store }

var _ agents.Store = (*AgentsStore)(nil)

// AgentsStore returns the agents' store on s's connection pool.
func (s *Store) AgentsStore() *AgentsStore { return &AgentsStore{s: s} }

// storedConfig is an agent's config column: the config, plus what tenancy's columns lack.
type storedConfig struct {
	agents.Config
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

func scanAgent(row pgx.Row) (agents.Agent, error) {
	var a agents.Agent
	var cfg []byte
	if err := row.Scan(&a.ID, &a.TenantID, &a.Name, &a.AgentType, &cfg, &a.CreatedAt); err != nil {
		return a, err
	}
	var sc storedConfig
	if err := json.Unmarshal(cfg, &sc); err != nil {
		return a, fmt.Errorf("agent %s config: %w", a.Name, err)
	}
	a.Config, a.UpdatedAt = sc.Config, sc.UpdatedAt.UTC()
	if sc.UpdatedAt.IsZero() {
		a.UpdatedAt = time.Time{}
	}
	a.CreatedAt = a.CreatedAt.UTC()
	return a, nil
}

const agentCols = `id, tenant_id, name, agent_type, config, created_at`

func (st *AgentsStore) list(ctx context.Context, q string, args ...any) ([]agents.Agent, error) {
	rows, err := st.s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, wrap("agents", err)
	}
	defer rows.Close()
	var out []agents.Agent
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, wrap("agents", err)
		}
		out = append(out, a)
	}
	return out, wrap("agents", rows.Err())
}

func (st *AgentsStore) Agents(ctx context.Context, tenantID string) ([]agents.Agent, error) {
	return st.list(ctx, `SELECT `+agentCols+` FROM ares_agents WHERE tenant_id = $1 ORDER BY name`, tenantID)
}

func (st *AgentsStore) AllAgents(ctx context.Context) ([]agents.Agent, error) {
	return st.list(ctx, `SELECT `+agentCols+` FROM ares_agents ORDER BY tenant_id, name`)
}

func (st *AgentsStore) Agent(ctx context.Context, tenantID, name string) (agents.Agent, error) {
	a, err := scanAgent(st.s.pool.QueryRow(ctx, `SELECT `+agentCols+` FROM ares_agents WHERE tenant_id = $1 AND name = $2`, tenantID, name))
	return a, wrap("agent", err)
}

func configJSON(a agents.Agent) []byte {
	b, _ := json.Marshal(storedConfig{Config: a.Config, UpdatedAt: a.UpdatedAt})
	return b
}

func (st *AgentsStore) CreateAgent(ctx context.Context, a agents.Agent) error {
	_, err := st.s.pool.Exec(ctx, `INSERT INTO ares_agents (id, tenant_id, name, agent_type, config, created_at) VALUES ($1,$2,$3,$4,$5,$6)`,
		a.ID, a.TenantID, a.Name, a.AgentType, configJSON(a), a.CreatedAt)
	return wrap("agent "+a.Name, err)
}

func (st *AgentsStore) UpdateAgent(ctx context.Context, a agents.Agent) error {
	tag, err := st.s.pool.Exec(ctx, `UPDATE ares_agents SET agent_type = $3, config = $4 WHERE tenant_id = $1 AND name = $2`,
		a.TenantID, a.Name, a.AgentType, configJSON(a))
	if err != nil {
		return wrap("agent "+a.Name, err)
	}
	if tag.RowsAffected() == 0 {
		return agents.ErrNotFound
	}
	return nil
}

func (st *AgentsStore) DeleteAgent(ctx context.Context, tenantID, name string) error {
	tag, err := st.s.pool.Exec(ctx, `DELETE FROM ares_agents WHERE tenant_id = $1 AND name = $2`, tenantID, name)
	if err != nil {
		return wrap("agent "+name, err)
	}
	if tag.RowsAffected() == 0 {
		return agents.ErrNotFound
	}
	return nil
}

func (st *AgentsStore) AddRun(ctx context.Context, r agents.Run) error {
	return wrap("run", pgx.BeginFunc(ctx, st.s.pool, func(tx pgx.Tx) error { return addRun(ctx, tx, r) }))
}

// SaveTurn saves a chat turn's conversation and run in one transaction.
func (st *AgentsStore) SaveTurn(ctx context.Context, c agents.Conversation, r agents.Run) error {
	body, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return wrap("turn", pgx.BeginFunc(ctx, st.s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO ares_conversations (tenant_id, user_id, id, updated_at, conversation) VALUES ($1,$2,$3,$4,$5)
			ON CONFLICT (tenant_id, user_id, id) DO UPDATE SET updated_at = $4, conversation = $5`, c.TenantID, c.UserID, c.ID, c.UpdatedAt, body); err != nil {
			return err
		}
		return addRun(ctx, tx, r)
	}))
}

func addRun(ctx context.Context, tx pgx.Tx, r agents.Run) error {
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	ok, failed := 1, 0
	if r.Status != "completed" {
		ok, failed = 0, 1
	}
	if _, err := tx.Exec(ctx, `INSERT INTO ares_agent_runs (id, tenant_id, agent_name, started_at, run) VALUES ($1,$2,$3,$4,$5)`,
		r.ID, r.TenantID, r.AgentName, r.StartedAt, body); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO ares_agent_run_stats AS s (tenant_id, agent_name, total, ok, failed, duration_ms, tokens, last_run)
		VALUES ($1,$2,1,$3,$4,$5,$6,$7)
		ON CONFLICT (tenant_id, agent_name) DO UPDATE SET total = s.total + 1, ok = s.ok + $3, failed = s.failed + $4,
			duration_ms = s.duration_ms + $5, tokens = s.tokens + $6, last_run = greatest(s.last_run, $7)`,
		r.TenantID, r.AgentName, ok, failed, r.DurationMS, r.TokensUsed, r.StartedAt)
	return err
}

func (st *AgentsStore) Runs(ctx context.Context, tenantID, agentName string, offset, limit int) ([]agents.Run, int, error) {
	var total int
	if err := st.s.pool.QueryRow(ctx, `SELECT count(*) FROM ares_agent_runs WHERE tenant_id = $1 AND agent_name = $2`, tenantID, agentName).Scan(&total); err != nil {
		return nil, 0, wrap("runs", err)
	}
	rows, err := st.s.pool.Query(ctx, `SELECT run FROM ares_agent_runs WHERE tenant_id = $1 AND agent_name = $2
		ORDER BY started_at DESC, id DESC OFFSET $3 LIMIT $4`, tenantID, agentName, offset, limit)
	if err != nil {
		return nil, 0, wrap("runs", err)
	}
	defer rows.Close()
	var out []agents.Run
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return nil, 0, wrap("runs", err)
		}
		var r agents.Run
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, 0, fmt.Errorf("run: %w", err)
		}
		out = append(out, r)
	}
	return out, total, wrap("runs", rows.Err())
}

func (st *AgentsStore) RunStats(ctx context.Context, tenantID, agentName string) (agents.RunStats, error) {
	var s agents.RunStats
	var last *time.Time
	err := st.s.pool.QueryRow(ctx, `SELECT total, ok, failed, duration_ms, tokens, last_run FROM ares_agent_run_stats WHERE tenant_id = $1 AND agent_name = $2`,
		tenantID, agentName).Scan(&s.TotalRuns, &s.SuccessfulRuns, &s.FailedRuns, &s.TotalDuration, &s.TotalTokens, &last)
	if errors.Is(err, pgx.ErrNoRows) {
		return agents.RunStats{}, nil
	}
	if last != nil {
		s.LastRun = last.UTC()
	}
	return s, wrap("run stats", err)
}

func (st *AgentsStore) SaveConversation(ctx context.Context, c agents.Conversation) error {
	body, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = st.s.pool.Exec(ctx, `INSERT INTO ares_conversations (tenant_id, user_id, id, updated_at, conversation) VALUES ($1,$2,$3,$4,$5)
		ON CONFLICT (tenant_id, user_id, id) DO UPDATE SET updated_at = $4, conversation = $5`, c.TenantID, c.UserID, c.ID, c.UpdatedAt, body)
	return wrap("conversation", err)
}

func (st *AgentsStore) Conversation(ctx context.Context, tenantID, userID, id string) (agents.Conversation, error) {
	var body []byte
	err := st.s.pool.QueryRow(ctx, `SELECT conversation FROM ares_conversations WHERE tenant_id = $1 AND user_id = $2 AND id = $3`, tenantID, userID, id).Scan(&body)
	if err != nil {
		return agents.Conversation{}, wrap("conversation", err)
	}
	var c agents.Conversation
	return c, json.Unmarshal(body, &c)
}

func (st *AgentsStore) Conversations(ctx context.Context, tenantID, userID string) ([]agents.Conversation, error) {
	rows, err := st.s.pool.Query(ctx, `SELECT conversation - 'messages' FROM ares_conversations WHERE tenant_id = $1 AND user_id = $2
		ORDER BY updated_at DESC, id`, tenantID, userID)
	if err != nil {
		return nil, wrap("conversations", err)
	}
	defer rows.Close()
	var out []agents.Conversation
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return nil, wrap("conversations", err)
		}
		var c agents.Conversation
		if err := json.Unmarshal(body, &c); err != nil {
			return nil, fmt.Errorf("conversation: %w", err)
		}
		out = append(out, c)
	}
	return out, wrap("conversations", rows.Err())
}

func (st *AgentsStore) DeleteConversation(ctx context.Context, tenantID, userID, id string) error {
	tag, err := st.s.pool.Exec(ctx, `DELETE FROM ares_conversations WHERE tenant_id = $1 AND user_id = $2 AND id = $3`, tenantID, userID, id)
	if err != nil {
		return wrap("conversation", err)
	}
	if tag.RowsAffected() == 0 {
		return agents.ErrNotFound
	}
	return nil
}
