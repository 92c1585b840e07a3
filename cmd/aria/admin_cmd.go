package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/aria-node/aria/node"
)

func platformFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "auth", EnvVars: []string{"ARIA_AUTH"}, Usage: "require tenant API keys on /v1/* even on a loopback API (always on for a non-loopback --host)"},
		&cli.StringFlag{Name: "database-url", EnvVars: []string{"DATABASE_URL"}, Usage: "postgres://… keeps tenants, keys, users and usage in PostgreSQL (default: bbolt in aria.db)"},
		&cli.IntFlag{Name: "ip-rate-limit", EnvVars: []string{"ARIA_IP_RATE_LIMIT"}, Usage: "requests per minute per client address on every route (0: no limit)"},
	}
}

func platformConfig(c *cli.Context) node.PlatformConfig {
	return node.PlatformConfig{Auth: c.Bool("auth"), DatabaseURL: c.String("database-url"), IPRequestsPerMinute: c.Int("ip-rate-limit")}
}

// adminClient calls a running node's admin API with the admin secret.
type adminClient struct {
	base   string
	secret string
}

func newAdminClient(c *cli.Context) (*adminClient, error) {
	secret := os.Getenv("ARIA_ADMIN_SECRET")
	if secret == "" {
		secret = os.Getenv("API_KEY")
	}
	if secret == "" {
		path := filepath.Join(c.String("data-dir"), "admin.secret")
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("admin secret: set ARIA_ADMIN_SECRET or run on the node's machine (%w)", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	host := c.String("api-host")
	return &adminClient{base: "http://" + net.JoinHostPort(host, strconv.Itoa(c.Int("api-port"))), secret: secret}, nil
}

func (a *adminClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("X-Admin-Secret", a.secret)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("node API at %s: %w (is the node running? --api-port)", a.base, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return err
	}
	if res.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return cli.Exit(fmt.Sprintf("%s (HTTP %d)", e.Error, res.StatusCode), 1)
		}
		return cli.Exit(fmt.Sprintf("HTTP %d", res.StatusCode), 1)
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

func adminFlags() []cli.Flag {
	return []cli.Flag{
		dataDirFlag(),
		&cli.StringFlag{Name: "api-host", Value: "127.0.0.1", Usage: "the node's API address"},
		&cli.IntFlag{Name: "api-port", Value: 3000, EnvVars: []string{"ARIA_API_PORT"}, Usage: "the node's API port"},
		&cli.BoolFlag{Name: "json", Usage: "print the API's JSON"},
	}
}

// adminAction runs fn with a client; it prints out as JSON with --json, else table(out).
func adminAction(fn func(c *cli.Context, a *adminClient) (any, func(w *tabwriter.Writer), error)) cli.ActionFunc {
	return func(c *cli.Context) error {
		a, err := newAdminClient(c)
		if err != nil {
			return err
		}
		out, table, err := fn(c, a)
		if err != nil {
			return err
		}
		if c.Bool("json") || table == nil {
			if out != nil {
				return printJSON(out)
			}
			return nil
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		table(tw)
		return tw.Flush()
	}
}

func needArg(c *cli.Context, what string) (string, error) {
	if c.NArg() != 1 {
		return "", usageError("want one argument: %s", what)
	}
	return c.Args().First(), nil
}

func adminCommand() *cli.Command {
	type tenant struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		Tier        string `json:"tier"`
		AgentCount  int    `json:"agent_count"`
		KeyCount    int    `json:"api_key_count"`
		TotalRuns   int64  `json:"total_runs"`
		TotalTokens int64  `json:"total_tokens"`
		CreatedAt   string `json:"created_at"`
	}
	type key struct {
		ID        string  `json:"id"`
		Name      string  `json:"name"`
		Prefix    string  `json:"prefix"`
		CreatedAt string  `json:"created_at"`
		ExpiresAt *string `json:"expires_at"`
		LastUsed  *string `json:"last_used"`
		Revoked   bool    `json:"revoked"`
		RawKey    string  `json:"raw_key"`
	}
	str := func(s *string) string {
		if s == nil {
			return "-"
		}
		return *s
	}
	tenantFlag := &cli.StringFlag{Name: "tenant", Required: true, Usage: "tenant ID"}
	return &cli.Command{
		Name:  "admin",
		Usage: "operate the ARES platform of a running node (tenants, keys, usage) through its admin API",
		Subcommands: []*cli.Command{
			{Name: "tenants", Usage: "list, create and change tenants", Subcommands: []*cli.Command{
				{Name: "list", Flags: adminFlags(), Action: adminAction(func(c *cli.Context, a *adminClient) (any, func(*tabwriter.Writer), error) {
					var out struct {
						Tenants []tenant `json:"tenants"`
					}
					err := a.do(c.Context, "GET", "/api/admin/tenants", nil, &out)
					return out, func(w *tabwriter.Writer) {
						fmt.Fprintln(w, "ID\tNAME\tTIER\tAGENTS\tCREATED")
						for _, t := range out.Tenants {
							fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", t.ID, t.Name, t.Tier, t.AgentCount, t.CreatedAt)
						}
					}, err
				})},
				{Name: "create", ArgsUsage: "NAME", Flags: append(adminFlags(), &cli.StringFlag{Name: "tier", Value: "free", Usage: "free, dev, pro or enterprise"}),
					Action: adminAction(func(c *cli.Context, a *adminClient) (any, func(*tabwriter.Writer), error) {
						name, err := needArg(c, "tenant name")
						if err != nil {
							return nil, nil, err
						}
						var out tenant
						err = a.do(c.Context, "POST", "/api/admin/tenants", map[string]string{"name": name, "tier": c.String("tier")}, &out)
						return out, func(w *tabwriter.Writer) {
							fmt.Fprintf(w, "created tenant %s (%s, tier %s)\n", out.Name, out.ID, out.Tier)
						}, err
					})},
				{Name: "show", ArgsUsage: "TENANT_ID", Flags: adminFlags(), Action: adminAction(func(c *cli.Context, a *adminClient) (any, func(*tabwriter.Writer), error) {
					id, err := needArg(c, "tenant ID")
					if err != nil {
						return nil, nil, err
					}
					var t tenant
					err = a.do(c.Context, "GET", "/api/admin/tenants/"+id, nil, &t)
					return t, func(w *tabwriter.Writer) {
						fmt.Fprintf(w, "id\t%s\nname\t%s\ntier\t%s\nagents\t%d\nkeys\t%d\nruns\t%d\ntokens\t%d\ncreated\t%s\n",
							t.ID, t.Name, t.Tier, t.AgentCount, t.KeyCount, t.TotalRuns, t.TotalTokens, t.CreatedAt)
					}, err
				})},
				{Name: "tier", ArgsUsage: "TENANT_ID TIER", Flags: adminFlags(), Action: adminAction(func(c *cli.Context, a *adminClient) (any, func(*tabwriter.Writer), error) {
					if c.NArg() != 2 {
						return nil, nil, usageError("want two arguments: tenant ID and tier")
					}
					var t tenant
					err := a.do(c.Context, "PUT", "/api/admin/tenants/"+c.Args().Get(0)+"/quota", map[string]string{"tier": c.Args().Get(1)}, &t)
					return t, func(w *tabwriter.Writer) { fmt.Fprintf(w, "tenant %s is now on tier %s\n", t.Name, t.Tier) }, err
				})},
			}},
			{Name: "keys", Usage: "list, create and revoke a tenant's API keys", Subcommands: []*cli.Command{
				{Name: "list", Flags: append(adminFlags(), tenantFlag), Action: adminAction(func(c *cli.Context, a *adminClient) (any, func(*tabwriter.Writer), error) {
					var out struct {
						Keys []key `json:"keys"`
					}
					err := a.do(c.Context, "GET", "/api/admin/tenants/"+c.String("tenant")+"/api-keys", nil, &out)
					return out, func(w *tabwriter.Writer) {
						fmt.Fprintln(w, "ID\tNAME\tPREFIX\tCREATED\tEXPIRES\tLAST USED\tREVOKED")
						for _, k := range out.Keys {
							fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%v\n", k.ID, k.Name, k.Prefix, k.CreatedAt, str(k.ExpiresAt), str(k.LastUsed), k.Revoked)
						}
					}, err
				})},
				{Name: "create", ArgsUsage: "NAME", Flags: append(adminFlags(), tenantFlag), Action: adminAction(func(c *cli.Context, a *adminClient) (any, func(*tabwriter.Writer), error) {
					name, err := needArg(c, "key name")
					if err != nil {
						return nil, nil, err
					}
					var k key
					err = a.do(c.Context, "POST", "/api/admin/tenants/"+c.String("tenant")+"/api-keys", map[string]string{"name": name}, &k)
					return k, func(w *tabwriter.Writer) {
						fmt.Fprintf(w, "key %s (%s)\n%s\nThe key is shown once: store it now.\n", k.Name, k.ID, k.RawKey)
					}, err
				})},
				{Name: "revoke", ArgsUsage: "KEY_ID", Flags: append(adminFlags(), tenantFlag), Action: adminAction(func(c *cli.Context, a *adminClient) (any, func(*tabwriter.Writer), error) {
					id, err := needArg(c, "key ID")
					if err != nil {
						return nil, nil, err
					}
					err = a.do(c.Context, "DELETE", "/api/admin/tenants/"+c.String("tenant")+"/api-keys/"+id, nil, nil)
					return nil, func(w *tabwriter.Writer) { fmt.Fprintf(w, "revoked key %s\n", id) }, err
				})},
			}},
			{Name: "usage", ArgsUsage: "TENANT_ID", Usage: "a tenant's usage this month and per day", Flags: append(adminFlags(), &cli.IntFlag{Name: "days", Value: 30, Usage: "days of daily breakdown"}),
				Action: adminAction(func(c *cli.Context, a *adminClient) (any, func(*tabwriter.Writer), error) {
					id, err := needArg(c, "tenant ID")
					if err != nil {
						return nil, nil, err
					}
					var sum struct {
						TenantName  string `json:"tenant_name"`
						Tier        string `json:"tier"`
						PeriodStart string `json:"period_start"`
						TotalRuns   int64  `json:"total_runs"`
						TotalTokens int64  `json:"total_tokens"`
						QuotaRuns   *int64 `json:"quota_runs"`
						QuotaTokens *int64 `json:"quota_tokens"`
					}
					var daily struct {
						Daily []struct {
							Date     string `json:"date"`
							Runs     int64  `json:"runs"`
							Tokens   int64  `json:"tokens"`
							APICalls int64  `json:"api_calls"`
						} `json:"daily"`
					}
					if err := a.do(c.Context, "GET", "/api/admin/tenants/"+id+"/usage", nil, &sum); err != nil {
						return nil, nil, err
					}
					err = a.do(c.Context, "GET", "/api/admin/tenants/"+id+"/usage/daily?days="+strconv.Itoa(c.Int("days")), nil, &daily)
					q := func(n *int64) string {
						if n == nil {
							return "unlimited"
						}
						return strconv.FormatInt(*n, 10)
					}
					return map[string]any{"summary": sum, "daily": daily.Daily}, func(w *tabwriter.Writer) {
						fmt.Fprintf(w, "tenant %s (tier %s), since %s\n", sum.TenantName, sum.Tier, sum.PeriodStart)
						fmt.Fprintf(w, "requests\t%d of %s\ntokens\t%d of %s\n\nDATE\tRUNS\tTOKENS\tAPI CALLS\n", sum.TotalRuns, q(sum.QuotaRuns), sum.TotalTokens, q(sum.QuotaTokens))
						for _, d := range daily.Daily {
							fmt.Fprintf(w, "%s\t%d\t%d\t%d\n", d.Date, d.Runs, d.Tokens, d.APICalls)
						}
					}, err
				})},
		},
	}
}
