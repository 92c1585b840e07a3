package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/aria-node/aria/intentions"
	"github.com/aria-node/aria/openai"
)

var (
	triggerTypes = []string{string(intentions.TriggerTime), string(intentions.TriggerSemantic),
		string(intentions.TriggerCondition), string(intentions.TriggerSessionStart)}
	intentionStatuses = []string{string(intentions.StatusPending), string(intentions.StatusTriggered),
		string(intentions.StatusExecuted), string(intentions.StatusExpired), string(intentions.StatusCancelled)}
	intentionSorts = []string{intentions.SortPriorityDesc, intentions.SortPriorityAsc, intentions.SortCreatedDesc, intentions.SortCreatedAsc}
)

const triggerHelp = `Triggers and their --condition (alias --when):
   time           an ISO 8601 time: 2026-02-17T09:00:00Z, 2026-02-17T09:00:00+01:00,
                  2026-02-17T09:00 or 2026-02-17 (no zone means UTC), or +DURATION
                  from now (+30m, +2h); fires once that time has come
   semantic       a keyword or phrase: "Q4 presentation results"; fires when a chat's
                  latest user message is about it
   condition      an expression over the chat request's metadata and the node state:
                  emotion=frustration, energy.total_tokens > 1000 && time.hour >= 9,
                  joined with && || ! and parentheses
   session_start  "*" (the default); fires on the first chat of a new session (the
                  X-Aria-Session header, else the request's user)`

func intentionsCommand() *cli.Command {
	show := intentionIDCommand("show", "show every field of an intention", http.MethodGet, "", func(c *cli.Context, in intentions.Intention) error {
		if c.Bool("json") {
			return printJSON(in)
		}
		printIntentionFields(in)
		return nil
	})
	return &cli.Command{
		Name:  "intentions",
		Usage: "manage the local node's intentions (reminders brought into chats when their trigger fires)",
		Description: "These commands talk to a running node's API (--port, default 3000 or $ARIA_API_PORT).\n\n" + triggerHelp +
			"\n\nExamples:\n" +
			`   aria intentions add "call mom" --trigger time --when 2026-02-17T18:00:00Z` + "\n" +
			`   aria intentions add "Ask how the Q4 presentation went" --trigger semantic --condition "Q4 presentation results" --priority 0.8` + "\n" +
			`   aria intentions add "Suggest a break" --trigger condition --condition "emotion=frustration" --recurring` + "\n" +
			`   aria intentions add "Greet the user by name" --trigger session_start --recurring` + "\n" +
			`   aria intentions list --status pending --sort created_desc` + "\n" +
			`   aria intentions update int_0123456789ab --priority 0.9 --expires none`,
		Subcommands: []*cli.Command{
			intentionsAddCommand(),
			intentionsListCommand(),
			show,
			intentionsUpdateCommand(),
			intentionIDCommand("cancel", "cancel an intention (it is kept, as cancelled, in the cold tier)", http.MethodDelete, "", printIntention),
			intentionIDCommand("fire", "fire a pending intention now: the next chat brings it up", http.MethodPost, "/fire", printIntention),
		},
	}
}

// intentionIDCommand is a command that takes one ID, sends method to
// /v1/intentions/ID+suffix and prints the intention the API returns.
func intentionIDCommand(name, usage, method, suffix string, output func(*cli.Context, intentions.Intention) error) *cli.Command {
	return &cli.Command{
		Name: name, Usage: usage, ArgsUsage: "ID", Flags: apiClientFlags(),
		Action: func(c *cli.Context) error {
			id, err := intentionID(c)
			if err != nil {
				return err
			}
			var in intentions.Intention
			if _, err := apiCall(c, method, "/v1/intentions/"+url.PathEscape(id)+suffix, nil, &in); err != nil {
				return err
			}
			return output(c, in)
		},
	}
}

func intentionsAddCommand() *cli.Command {
	return &cli.Command{
		Name:        "add",
		Usage:       "create an intention; prints its id",
		ArgsUsage:   "CONTENT",
		Description: "CONTENT is the reminder's text, brought into a chat's system message when the trigger fires.\n\n" + triggerHelp,
		Flags: append(apiClientFlags(),
			&cli.StringFlag{Name: "trigger", Usage: "time, semantic, condition or session_start (required)"},
			&cli.StringFlag{Name: "condition", Aliases: []string{"when"}, Usage: "what fires it; its form depends on --trigger (see above)"},
			&cli.Float64Flag{Name: "priority", Value: intentions.DefaultPriority, Usage: "0 to 1; the higher, the earlier it is brought up"},
			&cli.IntFlag{Name: "max-fires", Value: intentions.DefaultMaxFires, Usage: "how many times it may fire (-1: no limit)"},
			&cli.BoolFlag{Name: "recurring", Usage: "fire any number of times (--max-fires -1)"},
			&cli.StringFlag{Name: "expires", Usage: "RFC 3339 time after which it no longer fires, e.g. 2026-03-01T00:00:00Z"},
			&cli.StringSliceFlag{Name: "topic", Usage: "a related topic (repeatable)"},
		),
		Action: func(c *cli.Context) error {
			args, err := interspersedArgs(c)
			if err != nil {
				return err
			}
			content := strings.Join(args, " ")
			if strings.TrimSpace(content) == "" {
				return usageError("usage: aria intentions add CONTENT --trigger TYPE --condition VALUE")
			}
			trigger := c.String("trigger")
			if !slices.Contains(triggerTypes, trigger) {
				return usageError("--trigger %q: want one of %s", trigger, strings.Join(triggerTypes, ", "))
			}
			cond := c.String("condition")
			if !c.IsSet("condition") {
				if trigger != string(intentions.TriggerSessionStart) {
					return usageError("--condition (or --when) is required for a %s trigger", trigger)
				}
				cond = "*"
			}
			if trigger == string(intentions.TriggerTime) {
				if cond, err = relativeTime(cond, time.Now()); err != nil {
					return err
				}
			}
			body := map[string]any{"content": content, "trigger_type": trigger, "trigger_condition": cond}
			if c.IsSet("priority") {
				body["priority"] = c.Float64("priority")
			}
			switch {
			case c.Bool("recurring") && c.IsSet("max-fires") && c.Int("max-fires") != intentions.RecurringMaxFires:
				return usageError("--recurring means --max-fires -1; give one or the other")
			case c.Bool("recurring"):
				body["max_fires"] = intentions.RecurringMaxFires
			case c.IsSet("max-fires"):
				body["max_fires"] = c.Int("max-fires")
			}
			if c.IsSet("expires") {
				t, err := expiresFlag(c.String("expires"), false)
				if err != nil {
					return err
				}
				body["expires_at"] = t
			}
			if topics := c.StringSlice("topic"); len(topics) > 0 {
				body["related_topics"] = topics
			}
			var created openai.IntentionCreated
			if _, err := apiCall(c, http.MethodPost, "/v1/intentions", body, &created); err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(created)
			}
			fmt.Println(created.ID)
			return nil
		},
	}
}

func intentionsListCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list intentions (default: the 20 of highest priority)",
		Flags: append(apiClientFlags(),
			&cli.StringFlag{Name: "status", Usage: "only this status: " + strings.Join(intentionStatuses, ", ")},
			&cli.StringFlag{Name: "trigger", Usage: "only this trigger type: " + strings.Join(triggerTypes, ", ")},
			&cli.IntFlag{Name: "limit", Value: intentions.DefaultListLimit, Usage: fmt.Sprintf("at most this many (1 to %d)", intentions.MaxListLimit)},
			&cli.StringFlag{Name: "sort", Value: intentions.SortPriorityDesc, Usage: strings.Join(intentionSorts, ", ")},
		),
		Action: func(c *cli.Context) error {
			args, err := interspersedArgs(c)
			if err != nil {
				return err
			}
			if len(args) > 0 {
				return usageError("usage: aria intentions list [--status S] [--trigger T] [--limit N] [--sort ORDER]")
			}
			q := url.Values{}
			for _, f := range []struct {
				flag, param string
				allowed     []string
			}{{"status", "status", intentionStatuses}, {"trigger", "trigger_type", triggerTypes}, {"sort", "sort", intentionSorts}} {
				if !c.IsSet(f.flag) {
					continue
				}
				if v := c.String(f.flag); !slices.Contains(f.allowed, v) {
					return usageError("--%s %q: want one of %s", f.flag, v, strings.Join(f.allowed, ", "))
				}
				q.Set(f.param, c.String(f.flag))
			}
			if c.IsSet("limit") {
				if n := c.Int("limit"); n < 1 || n > intentions.MaxListLimit {
					return usageError("--limit %d: want 1 to %d", n, intentions.MaxListLimit)
				}
				q.Set("limit", strconv.Itoa(c.Int("limit")))
			}
			path := "/v1/intentions"
			if len(q) > 0 {
				path += "?" + q.Encode()
			}
			var list []intentions.Intention
			if _, err := apiCall(c, http.MethodGet, path, nil, &list); err != nil {
				return err
			}
			if c.Bool("json") {
				if list == nil {
					list = []intentions.Intention{}
				}
				return printJSON(list)
			}
			if len(list) == 0 {
				fmt.Println("no intentions")
				return nil
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATUS\tTRIGGER\tCONDITION\tPRIORITY\tFIRES\tTIER\tCONTENT")
			for _, in := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t%s\n", in.ID, in.Status, in.TriggerType, truncate(in.TriggerCondition, 28),
					in.Priority, fires(in), in.Tier, truncate(in.Content, 48))
			}
			return tw.Flush()
		},
	}
}

func intentionsUpdateCommand() *cli.Command {
	return &cli.Command{
		Name:      "update",
		Usage:     "change an intention's priority, condition, expiry or status (only the flags given)",
		ArgsUsage: "ID",
		Description: "The trigger type cannot change; a new --condition must fit it (see aria intentions --help).\n" +
			"--status moves pending → triggered, executed, expired or cancelled; triggered → pending, executed,\n" +
			"expired or cancelled; cancelled or expired → pending (reactivate); executed is final.",
		Flags: append(apiClientFlags(),
			&cli.Float64Flag{Name: "priority", Usage: "0 to 1"},
			&cli.StringFlag{Name: "condition", Aliases: []string{"when"}, Usage: "a new trigger condition of the same type"},
			&cli.StringFlag{Name: "expires", Usage: "RFC 3339 time, or none to never expire"},
			&cli.StringFlag{Name: "status", Usage: strings.Join(intentionStatuses, ", ")},
		),
		Action: func(c *cli.Context) error {
			id, err := intentionID(c)
			if err != nil {
				return err
			}
			patch := map[string]any{}
			if c.IsSet("priority") {
				patch["priority"] = c.Float64("priority")
			}
			if c.IsSet("condition") {
				cond, err := relativeTime(c.String("condition"), time.Now())
				if err != nil {
					return err
				}
				patch["trigger_condition"] = cond
			}
			if c.IsSet("expires") {
				t, err := expiresFlag(c.String("expires"), true)
				if err != nil {
					return err
				}
				patch["expires_at"] = t // nil for none: JSON null clears it
			}
			if c.IsSet("status") {
				if s := c.String("status"); !slices.Contains(intentionStatuses, s) {
					return usageError("--status %q: want one of %s", s, strings.Join(intentionStatuses, ", "))
				}
				patch["status"] = c.String("status")
			}
			if len(patch) == 0 {
				return usageError("nothing to change: give --priority, --condition, --expires or --status")
			}
			var in intentions.Intention
			if _, err := apiCall(c, http.MethodPatch, "/v1/intentions/"+url.PathEscape(id), patch, &in); err != nil {
				return err
			}
			return printIntention(c, in)
		},
	}
}

// apiCall sends a request to the node's API at apiBase(c) within --timeout: body, when
// not nil, as JSON, and a 2xx answer's JSON decoded into out, when not nil. It returns
// the HTTP status. An unreachable node, or an answer other than 2xx, is a cli.Exit with
// status 1 whose text is the API's error message, which main prints as "aria: <message>".
func apiCall(c *cli.Context, method, path string, body, out any) (int, error) {
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	base := apiBase(c)
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, cli.Exit(fmt.Sprintf("node API at %s is unreachable: %v", base, err), 1)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp.StatusCode, cli.Exit(fmt.Sprintf("%s %s: reading the answer: %v", method, path, err), 1)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e openai.ErrorResponse
		if json.Unmarshal(raw, &e) == nil && e.Error.Message != "" {
			return resp.StatusCode, cli.Exit(e.Error.Message, 1)
		}
		return resp.StatusCode, cli.Exit(fmt.Sprintf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, truncate(string(raw), 200)), 1)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, cli.Exit(fmt.Sprintf("%s %s: HTTP %d, not the expected JSON: %v", method, path, resp.StatusCode, err), 1)
		}
	}
	return resp.StatusCode, nil
}

// interspersedArgs returns the positional arguments, first applying the flags written
// after them: urfave/cli stops parsing flags at the first positional argument, and
// `aria intentions add "call mom" --trigger time` is the natural way to write it. "--"
// ends the flags.
func interspersedArgs(c *cli.Context) ([]string, error) {
	var pos []string
	args := c.Args().Slice()
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(pos, args[i+1:]...), nil
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "h" || name == "help" {
			return nil, cli.ShowSubcommandHelp(c)
		}
		f := lookupFlag(c.Command.Flags, name)
		if f == nil {
			return nil, usageError("flag provided but not defined: -%s (see %s --help)", name, c.Command.HelpName)
		}
		if !hasValue {
			if tv, ok := f.(cli.DocGenerationFlag); ok && !tv.TakesValue() {
				value = "true"
			} else if i+1 < len(args) {
				i++
				value = args[i]
			} else {
				return nil, usageError("flag needs an argument: -%s", name)
			}
		}
		// The first name: urfave/cli reads a flag by it, and an alias has a value of its own.
		if err := c.Set(f.Names()[0], value); err != nil {
			return nil, usageError("invalid value %q for flag -%s: %v", value, name, err)
		}
	}
	return pos, nil
}

func lookupFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

// intentionID is the one ID argument of show, update, cancel and fire.
func intentionID(c *cli.Context) (string, error) {
	args, err := interspersedArgs(c)
	if err != nil {
		return "", err
	}
	if len(args) != 1 || args[0] == "" {
		return "", usageError("usage: aria intentions %s ID", c.Command.Name)
	}
	return args[0], nil
}

// relativeTime turns "+DURATION" into the RFC 3339 time that far from now; anything
// else is returned as it is, for the API to check.
func relativeTime(v string, now time.Time) (string, error) {
	if !strings.HasPrefix(v, "+") {
		return v, nil
	}
	d, err := time.ParseDuration(v[1:])
	if err != nil || d <= 0 {
		return "", usageError("--condition %q: a relative time is + and a positive duration, such as +30m or +2h", v)
	}
	return now.Add(d).UTC().Format(time.RFC3339), nil
}

// expiresFlag checks --expires; with allowNone, "none" is nil (JSON null: never expires).
func expiresFlag(v string, allowNone bool) (any, error) {
	if allowNone && strings.EqualFold(v, "none") {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		want := "an RFC 3339 time such as 2026-03-01T00:00:00Z"
		if allowNone {
			want += ", or none"
		}
		return nil, usageError("--expires %q: want %s", v, want)
	}
	return t.Format(time.RFC3339), nil
}

// printIntention prints the intention an update, cancel or fire returned: JSON with
// --json, else one line.
func printIntention(c *cli.Context, in intentions.Intention) error {
	if c.Bool("json") {
		return printJSON(in)
	}
	fmt.Printf("%s %s: %q (%s %s, priority %.2f, fires %s, %s)\n", in.ID, in.Status, truncate(in.Content, 60),
		in.TriggerType, truncate(in.TriggerCondition, 40), in.Priority, fires(in), in.Tier)
	return nil
}

func printIntentionFields(in intentions.Intention) {
	orNever := func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return t.UTC().Format(time.RFC3339)
	}
	topics := strings.Join(in.RelatedTopics, ", ")
	if topics == "" {
		topics = "-"
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%s\n", in.ID)
	fmt.Fprintf(tw, "content\t%s\n", in.Content)
	fmt.Fprintf(tw, "trigger_type\t%s\n", in.TriggerType)
	fmt.Fprintf(tw, "trigger_condition\t%s\n", in.TriggerCondition)
	fmt.Fprintf(tw, "status\t%s\n", in.Status)
	fmt.Fprintf(tw, "priority\t%.2f\n", in.Priority)
	fmt.Fprintf(tw, "fires\t%s\n", fires(in))
	fmt.Fprintf(tw, "tier\t%s\n", in.Tier)
	fmt.Fprintf(tw, "created_at\t%s\n", in.CreatedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "updated_at\t%s\n", in.UpdatedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "expires_at\t%s\n", orNever(in.ExpiresAt))
	fmt.Fprintf(tw, "last_fired_at\t%s\n", orNever(in.LastFiredAt))
	fmt.Fprintf(tw, "related_topics\t%s\n", topics)
	fmt.Fprintf(tw, "trigger_embedding_computed\t%v\n", in.TriggerEmbeddingComputed)
	tw.Flush()
}

// fires is fire_count/max_fires, ∞ for a recurring intention.
func fires(in intentions.Intention) string {
	if in.MaxFires == intentions.RecurringMaxFires {
		return fmt.Sprintf("%d/∞", in.FireCount)
	}
	return fmt.Sprintf("%d/%d", in.FireCount, in.MaxFires)
}

// truncate shortens s to n characters, on one line, marking a cut with "…".
func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
