package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/aria-node/aria/agents"
	"github.com/aria-node/aria/agents/storetest"
	"github.com/aria-node/aria/storage/postgres/pgtest"
	"github.com/aria-node/aria/tenancy"
)

func TestAgentsStoreSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (agents.Store, func(string)) {
		s := open(t, pgtest.URL(t))
		return s.AgentsStore(), func(id string) {
			err := s.CreateTenant(context.Background(), tenancy.Tenant{ID: id, Name: "t" + id[:8], Tier: tenancy.TierPro, CreatedAt: time.Now().UTC()})
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}
