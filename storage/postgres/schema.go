package postgres

// migrations are applied in order, each once, under an advisory lock so gateways that
// start together do not race. Append; never edit a released step.
var migrations = []string{
	`CREATE TABLE ares_tenants (
		id text PRIMARY KEY,
		name text NOT NULL UNIQUE,
		tier text NOT NULL,
		product_type text NOT NULL DEFAULT '',
		created_at timestamptz NOT NULL
	);
	CREATE TABLE ares_api_keys (
		id text PRIMARY KEY,
		tenant_id text NOT NULL REFERENCES ares_tenants(id),
		name text NOT NULL,
		prefix text NOT NULL,
		hash bytea NOT NULL UNIQUE,
		created_at timestamptz NOT NULL,
		expires_at timestamptz,
		last_used timestamptz,
		revoked_at timestamptz
	);
	CREATE INDEX ares_api_keys_tenant ON ares_api_keys(tenant_id);
	CREATE TABLE ares_users (
		id text PRIMARY KEY,
		tenant_id text NOT NULL REFERENCES ares_tenants(id),
		email text NOT NULL UNIQUE,
		name text NOT NULL,
		password_hash bytea NOT NULL,
		created_at timestamptz NOT NULL
	);
	CREATE TABLE ares_refresh_tokens (
		hash bytea PRIMARY KEY,
		user_id text NOT NULL,
		expires_at timestamptz NOT NULL,
		revoked boolean NOT NULL DEFAULT false
	);
	CREATE TABLE ares_agents (
		id text PRIMARY KEY,
		tenant_id text NOT NULL REFERENCES ares_tenants(id),
		name text NOT NULL,
		agent_type text NOT NULL,
		config jsonb NOT NULL,
		created_at timestamptz NOT NULL,
		UNIQUE (tenant_id, name)
	);
	CREATE TABLE ares_usage_daily (
		tenant_id text NOT NULL REFERENCES ares_tenants(id),
		day date NOT NULL,
		runs bigint NOT NULL DEFAULT 0,
		tokens bigint NOT NULL DEFAULT 0,
		api_calls bigint NOT NULL DEFAULT 0,
		PRIMARY KEY (tenant_id, day)
	);
	CREATE TABLE ares_idempotency (
		tenant_id text NOT NULL,
		key text NOT NULL,
		created_at timestamptz NOT NULL,
		PRIMARY KEY (tenant_id, key)
	);
	CREATE TABLE ares_audit_log (
		seq bigserial PRIMARY KEY,
		id text NOT NULL,
		action text NOT NULL,
		actor text NOT NULL,
		details jsonb NOT NULL,
		ts timestamptz NOT NULL
	);
	CREATE TABLE ares_alerts (
		seq bigserial PRIMARY KEY,
		id text NOT NULL UNIQUE,
		kind text UNIQUE,
		severity text NOT NULL,
		message text NOT NULL,
		tenant_id text NOT NULL DEFAULT '',
		created_at timestamptz NOT NULL,
		resolved boolean NOT NULL DEFAULT false,
		resolved_at timestamptz
	);`,
	// 2: agent runs and their per-agent sums, and conversations (issue 15). Agents
	// themselves stay in ares_agents; extra fields ride in its config jsonb.
	`CREATE TABLE ares_agent_runs (
		id text PRIMARY KEY,
		tenant_id text NOT NULL,
		agent_name text NOT NULL,
		started_at timestamptz NOT NULL,
		run jsonb NOT NULL
	);
	CREATE INDEX ares_agent_runs_agent ON ares_agent_runs(tenant_id, agent_name, started_at DESC, id DESC);
	CREATE TABLE ares_agent_run_stats (
		tenant_id text NOT NULL,
		agent_name text NOT NULL,
		total bigint NOT NULL DEFAULT 0,
		ok bigint NOT NULL DEFAULT 0,
		failed bigint NOT NULL DEFAULT 0,
		duration_ms bigint NOT NULL DEFAULT 0,
		tokens bigint NOT NULL DEFAULT 0,
		last_run timestamptz,
		PRIMARY KEY (tenant_id, agent_name)
	);
	CREATE TABLE ares_conversations (
		tenant_id text NOT NULL,
		user_id text NOT NULL,
		id text NOT NULL,
		updated_at timestamptz NOT NULL,
		conversation jsonb NOT NULL,
		PRIMARY KEY (tenant_id, user_id, id)
	);
	CREATE INDEX ares_conversations_recent ON ares_conversations(tenant_id, user_id, updated_at DESC);`,
	// 3: RAG (issue 16): collections, documents, chunks with their vectors, and the
	// inverted index. Chunk sequence numbers count up per collection.
	`CREATE TABLE ares_rag_collections (
		tenant_id text NOT NULL,
		name text NOT NULL,
		chunk_size int NOT NULL,
		chunk_overlap int NOT NULL,
		embedder text NOT NULL,
		dim int NOT NULL,
		documents int NOT NULL DEFAULT 0,
		chunks int NOT NULL DEFAULT 0,
		version bigint NOT NULL DEFAULT 0,
		created_at timestamptz NOT NULL,
		updated_at timestamptz NOT NULL,
		PRIMARY KEY (tenant_id, name)
	);
	CREATE TABLE ares_rag_documents (
		tenant_id text NOT NULL,
		collection text NOT NULL,
		id text NOT NULL,
		strategy text NOT NULL,
		metadata jsonb NOT NULL,
		chunk_ids text[] NOT NULL,
		created_at timestamptz NOT NULL,
		PRIMARY KEY (tenant_id, collection, id),
		FOREIGN KEY (tenant_id, collection) REFERENCES ares_rag_collections ON DELETE CASCADE
	);
	CREATE TABLE ares_rag_chunks (
		tenant_id text NOT NULL,
		collection text NOT NULL,
		seq bigint NOT NULL,
		id text NOT NULL,
		document_id text NOT NULL,
		idx int NOT NULL,
		content text NOT NULL,
		metadata jsonb NOT NULL,
		vector bytea,
		PRIMARY KEY (tenant_id, collection, seq),
		FOREIGN KEY (tenant_id, collection) REFERENCES ares_rag_collections ON DELETE CASCADE
	);
	CREATE TABLE ares_rag_postings (
		tenant_id text NOT NULL,
		collection text NOT NULL,
		term text NOT NULL,
		seq bigint NOT NULL,
		tf int NOT NULL,
		PRIMARY KEY (tenant_id, collection, term, seq),
		FOREIGN KEY (tenant_id, collection) REFERENCES ares_rag_collections ON DELETE CASCADE
	);`,
	// 4: RAG postings move into the chunk row (rag.EncodePostings), appended with it,
	// instead of a row per term and chunk (the inverted index is built in memory).
	`ALTER TABLE ares_rag_chunks ADD COLUMN postings bytea NOT NULL DEFAULT '\x00';
	DROP TABLE ares_rag_postings;`,
}
