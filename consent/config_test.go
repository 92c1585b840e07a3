package consent

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "consent.json")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLoadFileDocExample loads testdata/consent.json, which is the example in the package doc.
func TestLoadFileDocExample(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("testdata/consent.json")
	if err != nil {
		t.Fatal(err)
	}
	var commented strings.Builder
	for line := range strings.Lines(string(example)) {
		commented.WriteString("//\t" + line)
	}
	if !strings.Contains(string(doc), commented.String()) {
		t.Fatalf("the package doc's example differs from testdata/consent.json")
	}
	got, err := LoadFile("testdata/consent.json")
	if err != nil {
		t.Fatal(err)
	}
	want := Contract{CPUPercent: 25, MaxRAMMB: 2048, MaxBandwidthMbps: 10, Schedule: "22:00-06:00", Timezone: "Europe/Paris",
		Days: []string{"mon", "tue", "wed", "thu", "fri"}, TaskTypes: []string{"text_gen", "summarization"}, MaxConcurrentTasks: 2}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestLoadFile(t *testing.T) {
	cases := []struct {
		name string
		body string
		want Contract
	}{
		{"empty object keeps defaults", `{}`, Default()},
		{"partial keeps defaults", `{"cpu_percent": 60, "days": ["Saturday", "SUN"]}`,
			func() Contract { c := Default(); c.CPUPercent = 60; c.Days = []string{"sat", "sun"}; return c }()},
		{"lists and schedule canonical", `{"task_types": ["Code_Gen", "text_gen"], "schedule": "9:00-17:00", "days": null}`,
			func() Contract {
				c := Default()
				c.TaskTypes = []string{"text_gen", "code_gen"}
				c.Schedule = "09:00-17:00"
				return c
			}()},
		{"explicit zeros that mean no limit", `{"max_ram_mb": 0, "max_bandwidth_mbps": 0, "allow_logging": true}`,
			func() Contract { c := Default(); c.AllowLogging = true; return c }()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := LoadFile(writeConfig(t, c.body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	cases := []struct {
		name string
		body string
		want []string // substrings of the error after "consent: config file PATH"
	}{
		{"unknown field", "{\n  \"cpu_percent\": 30,\n  \"cpu_pct\": 30\n}", []string{`:3:3:`, `unknown field "cpu_pct"`, "known: cpu_percent, max_ram_mb"}},
		{"syntax error", "{\n  \"cpu_percent\": 30,\n  \"days\": [\"mon\",]\n}", []string{":3:18:", "invalid character ']'"}},
		{"truncated", "{\n  \"cpu_percent\": 30,", []string{":2:", "unexpected end of JSON"}},
		{"wrong type", "{\n  \"cpu_percent\": \"high\"\n}", []string{":2:", "cpu_percent: got JSON string; must be an integer from 1 to 100"}},
		{"wrong type in list", `{"days": ["mon", 3]}`, []string{"days: got JSON number; must be a list of mon,tue"}},
		{"not an object", `[1, 2]`, []string{":1:", "want a JSON object, got array"}},
		{"empty", ``, []string{"empty; want a JSON object"}},
		{"trailing data", `{} {}`, []string{":1:", "data after the JSON object"}},
		{"invalid values", `{"cpu_percent": 0, "max_concurrent_tasks": 0}`, []string{
			`cpu_percent "0": must be an integer from 1 to 100`, `max_concurrent_tasks "0": must be an integer >= 1`}},
		{"start equals end", `{"schedule": "08:00-08:00"}`, []string{`schedule "08:00-08:00"`, "use an empty schedule for always"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeConfig(t, c.body)
			_, err := LoadFile(path)
			if err == nil {
				t.Fatal("LoadFile accepted it")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "consent: config file "+path) {
				t.Fatalf("error does not name the file: %q", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
}

func TestLoadFileInvalidValuesAreFieldErrors(t *testing.T) {
	path := writeConfig(t, `{"cpu_percent": 0, "max_concurrent_tasks": 0}`)
	_, err := LoadFile(path)
	fes := FieldErrors(err)
	if len(fes) != 2 || fes[0].Field != "cpu_percent" || fes[1].Field != "max_concurrent_tasks" {
		t.Fatalf("FieldErrors = %v", fes)
	}
	// Each line names the file.
	for line := range strings.Lines(err.Error()) {
		if !strings.HasPrefix(line, "consent: config file "+path+": ") {
			t.Errorf("line %q does not name the file", line)
		}
	}
}

func TestLoadFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.json")
	_, err := LoadFile(path)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("got %v; want a not-exist error naming %s", err, path)
	}
}

func TestLoadFileTooLarge(t *testing.T) {
	body := `{"schedule": "` + strings.Repeat(" ", maxConfigBytes) + `"}`
	_, err := LoadFile(writeConfig(t, body))
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("got %v", err)
	}
}

func TestFromEnv(t *testing.T) {
	env := func(kv map[string]string) func(string) string {
		return func(k string) string { return kv[k] }
	}
	cases := []struct {
		name string
		env  map[string]string
		want func(*Contract)
	}{
		{"nothing set", nil, func(*Contract) {}},
		{"empty is unset", map[string]string{EnvCPUPercent: "", EnvSchedule: "  "}, func(*Contract) {}},
		{"every variable", map[string]string{
			EnvCPUPercent: "40", EnvMaxRAMMB: "1024", EnvBandwidth: "2.5", EnvSchedule: "8:00-18:00",
			EnvTimezone: "America/New_York", EnvDays: "Mon, fri", EnvTaskTypes: "summarization,text_gen",
			EnvMaxConcurrent: "3", EnvAllowLogging: "true",
		}, func(c *Contract) {
			c.CPUPercent, c.MaxRAMMB, c.MaxBandwidthMbps = 40, 1024, 2.5
			c.Schedule, c.Timezone = "08:00-18:00", "America/New_York"
			c.Days, c.TaskTypes = []string{"mon", "fri"}, []string{"text_gen", "summarization"}
			c.MaxConcurrentTasks, c.AllowLogging = 3, true
		}},
		{"logging yes", map[string]string{EnvAllowLogging: "YES"}, func(c *Contract) { c.AllowLogging = true }},
		{"logging off", map[string]string{EnvAllowLogging: "off"}, func(c *Contract) { c.AllowLogging = false }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base := Default()
			base.AllowLogging = c.name == "logging off"
			got, err := FromEnv(base, env(c.env))
			if err != nil {
				t.Fatal(err)
			}
			want := Default()
			c.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v\nwant %+v", got, want)
			}
		})
	}

	bad := []struct {
		env, value, accept string
	}{
		{EnvCPUPercent, "half", "an integer from 1 to 100"},
		{EnvCPUPercent, "0", "an integer from 1 to 100"},
		{EnvMaxRAMMB, "32", ">= 64"},
		{EnvMaxRAMMB, "1G", ">= 64"},
		{EnvBandwidth, "-1", "positive number"},
		{EnvBandwidth, "fast", "positive number"},
		{EnvSchedule, "nights", "HH:MM-HH:MM"},
		{EnvSchedule, "06:00-06:00", "use an empty schedule for always"},
		{EnvTimezone, "CEST+2", "IANA"},
		{EnvDays, "weekdays", "mon,tue,wed"},
		{EnvTaskTypes, "chat", "text_gen, code_gen"},
		{EnvMaxConcurrent, "0", "an integer >= 1"},
		{EnvMaxConcurrent, "two", "an integer >= 1"},
		{EnvAllowLogging, "maybe", "true or false"},
	}
	for _, b := range bad {
		t.Run(b.env+"="+b.value, func(t *testing.T) {
			base := Default()
			got, err := FromEnv(base, env(map[string]string{b.env: b.value, EnvCPUPercent + "_UNUSED": "x"}))
			fes := FieldErrors(err)
			if len(fes) != 1 || fes[0].Field != b.env || fes[0].Value != b.value {
				t.Fatalf("got %v; want one FieldError for %s=%q", err, b.env, b.value)
			}
			prefix := "consent: " + b.env + ` "` + b.value + `": must be `
			if msg := err.Error(); !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, b.accept) {
				t.Fatalf("message %q: want prefix %q and %q", msg, prefix, b.accept)
			}
			if !reflect.DeepEqual(got, base) {
				t.Fatalf("contract changed on error: %+v", got)
			}
		})
	}
}

func TestFromEnvJoinsErrors(t *testing.T) {
	getenv := func(k string) string {
		return map[string]string{EnvCPUPercent: "0", EnvDays: "mon,funday,noday", EnvMaxConcurrent: "3"}[k]
	}
	_, err := FromEnv(Default(), getenv)
	var got []string
	for _, fe := range FieldErrors(err) {
		got = append(got, fe.Field+"="+fe.Value)
	}
	want := []string{"ARIA_CPU_PERCENT=0", "ARIA_DAYS=funday", "ARIA_DAYS=noday"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestFromEnvDoesNotShareSlices(t *testing.T) {
	base := Default()
	got, err := FromEnv(base, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	got.TaskTypes[0] = "changed"
	if base.TaskTypes[0] != "any" {
		t.Fatal("FromEnv shares slices with its argument")
	}
}

func TestOtherSectionsAreSkipped(t *testing.T) {
	for _, sec := range OtherSections {
		c, err := parseConfig("test", []byte(`{"cpu_percent": 40, "`+sec+`": [{"name": "x"}]}`))
		if err != nil || c.CPUPercent != 40 {
			t.Errorf("section %s: %v", sec, err)
		}
	}
	if _, err := parseConfig("test", []byte(`{"provider": []}`)); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Errorf("a misspelt section is accepted: %v", err)
	}
}

func TestReadConfigFileTOML(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "aria.toml")
	os.WriteFile(path, []byte("cpu_percent = 30\ndays = [\"mon\", \"tue\"]\n\n[server]\nport = 3000\n\n[[providers]]\nname = \"groq\"\n"), 0o600)
	c, err := LoadFile(path)
	if err != nil || c.CPUPercent != 30 || len(c.Days) != 2 {
		t.Fatalf("%+v %v", c, err)
	}
	os.WriteFile(path, []byte("cpu_percent = \n"), 0o600)
	if _, err := LoadFile(path); err == nil || !strings.Contains(err.Error(), "(TOML)") {
		t.Fatalf("bad TOML: %v", err)
	}
	os.WriteFile(path, []byte("cpu_percnt = 30\n"), 0o600)
	if _, err := LoadFile(path); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Fatalf("unknown TOML key: %v", err)
	}
}
