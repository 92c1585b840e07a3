package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/aria-node/aria/agents"
	"github.com/aria-node/aria/consent"
	"github.com/aria-node/aria/node"
	"github.com/aria-node/aria/providers"
)

// consentFlags set the owner's consent contract. Their defaults are empty: a flag
// that is not given leaves the value from the config file or environment.
func consentFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", EnvVars: []string{"ARIA_CONFIG"}, Usage: "node config file, TOML (ARES style) or JSON: consent contract, [[providers]], [[models]] (see README)"},
		&cli.IntFlag{Name: "cpu", Usage: "cpu_percent: share of the machine's CPU the kernel may use, 1-100 (default 25)"},
		&cli.IntFlag{Name: "max-ram-mb", Usage: "max_ram_mb: memory all loaded models together may use, MiB (default: no limit)"},
		&cli.Float64Flag{Name: "max-bandwidth-mbps", Usage: "max_bandwidth_mbps: peer traffic rate limit (default: no limit)"},
		&cli.StringFlag{Name: "schedule", Usage: "schedule: when remote work is accepted, HH:MM-HH:MM, may cross midnight (default: always)"},
		&cli.StringFlag{Name: "timezone", Usage: "timezone of the schedule and days, IANA name (default UTC)"},
		&cli.StringFlag{Name: "days", Usage: "days remote work is accepted, e.g. mon,tue,wed (default: every day)"},
		&cli.StringFlag{Name: "task-types", Usage: "task types accepted from remote clients: text_gen,code_gen,summarization,translation,embedding or any (default any)"},
		&cli.IntFlag{Name: "max-concurrent", Usage: "max_concurrent_tasks: remote tasks running at once (default 2)"},
		&cli.BoolFlag{Name: "allow-logging", Usage: "allow_logging: log prompts and outputs of remote work"},
	}
}

// setBy names the flag and variable that set a contract field, for error messages.
var setBy = map[string]string{
	"cpu_percent":          "--cpu or " + consent.EnvCPUPercent,
	"max_ram_mb":           "--max-ram-mb or " + consent.EnvMaxRAMMB,
	"max_bandwidth_mbps":   "--max-bandwidth-mbps or " + consent.EnvBandwidth,
	"schedule":             "--schedule or " + consent.EnvSchedule,
	"timezone":             "--timezone or " + consent.EnvTimezone,
	"days":                 "--days or " + consent.EnvDays,
	"task_types":           "--task-types or " + consent.EnvTaskTypes,
	"max_concurrent_tasks": "--max-concurrent or " + consent.EnvMaxConcurrent,
}

// configFile reads --config once (nil without one); its sections go to their owners.
func configFile(c *cli.Context) (*consent.ConfigFile, error) {
	path := c.String("config")
	if path == "" {
		return nil, nil
	}
	f, err := consent.ReadConfigFile(path)
	if err != nil {
		return nil, usageError("%v", err)
	}
	return &f, nil
}

// providersConfig is the config file's [[providers]] and [[models]].
func providersConfig(f *consent.ConfigFile) (providers.Config, error) {
	if f == nil {
		return providers.Config{}, nil
	}
	pc, err := providers.ParseConfig(f.Source, f.JSON)
	if err != nil {
		return pc, usageError("%v", err)
	}
	return pc, nil
}

// agentsConfig adds the config file's [[agents]] and [[workflows]] to the platform's config.
func agentsConfig(f *consent.ConfigFile, pc node.PlatformConfig) (node.PlatformConfig, error) {
	if f == nil {
		return pc, nil
	}
	ac, err := agents.ParseConfig(f.Source, f.JSON)
	if err != nil {
		return pc, usageError("%v", err)
	}
	pc.Agents, pc.Workflows = ac.Agents, ac.Workflows
	return pc, nil
}

// consentContract builds the contract: defaults < --config file < ARIA_* env < flags.
func consentContract(c *cli.Context, f *consent.ConfigFile) (consent.Contract, error) {
	ct := consent.Default()
	if f != nil {
		var err error
		if ct, err = consent.ParseConfig(*f); err != nil {
			return ct, usageError("%v", err)
		}
	}
	ct, err := consent.FromEnv(ct, os.Getenv)
	if err != nil {
		return ct, usageError("%v", err)
	}
	if c.IsSet("cpu") {
		ct.CPUPercent = c.Int("cpu")
	}
	if c.IsSet("max-ram-mb") {
		ct.MaxRAMMB = c.Int("max-ram-mb")
	}
	if c.IsSet("max-bandwidth-mbps") {
		ct.MaxBandwidthMbps = c.Float64("max-bandwidth-mbps")
	}
	if c.IsSet("schedule") {
		ct.Schedule = c.String("schedule")
	}
	if c.IsSet("timezone") {
		ct.Timezone = c.String("timezone")
	}
	if c.IsSet("days") {
		if ct.Days, err = consent.ParseDays(c.String("days")); err != nil {
			return ct, usageError("--days: %v", err)
		}
	}
	if c.IsSet("task-types") {
		if ct.TaskTypes, err = consent.ParseTaskTypes(c.String("task-types")); err != nil {
			return ct, usageError("--task-types: %v", err)
		}
	}
	if c.IsSet("max-concurrent") {
		ct.MaxConcurrentTasks = c.Int("max-concurrent")
	}
	if c.IsSet("allow-logging") {
		ct.AllowLogging = c.Bool("allow-logging")
	}
	if err := ct.Validate(); err != nil {
		var lines []string
		for _, fe := range consent.FieldErrors(err) {
			line := fe.Error()
			if by, ok := setBy[fe.Field]; ok {
				line += fmt.Sprintf(" (set by %s, or the config file)", by)
			}
			lines = append(lines, line)
		}
		if len(lines) == 0 {
			lines = []string{err.Error()}
		}
		return ct, usageError("%s", strings.Join(lines, "\n"))
	}
	return ct.Normalize(), nil
}
