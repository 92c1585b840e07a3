package consent

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestDefaultJSON(t *testing.T) {
	got, err := json.Marshal(Default())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"cpu_percent":25,"max_ram_mb":0,"max_bandwidth_mbps":0,"schedule":"","timezone":"UTC","days":[],` +
		`"task_types":["any"],"max_concurrent_tasks":2,"allow_logging":false}`
	if string(got) != want {
		t.Fatalf("Default JSON\n got %s\nwant %s", got, want)
	}
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default invalid: %v", err)
	}
}

func TestNormalize(t *testing.T) {
	cases := []struct {
		name string
		in   Contract
		want Contract
	}{
		{"zero is default", Contract{}, Default()},
		{"default is fixed point", Default(), Default()},
		{"keeps explicit values",
			Contract{CPUPercent: 80, MaxRAMMB: 512, MaxBandwidthMbps: 2.5, Timezone: "Asia/Kolkata", MaxConcurrentTasks: 4, AllowLogging: true},
			Contract{CPUPercent: 80, MaxRAMMB: 512, MaxBandwidthMbps: 2.5, Timezone: "Asia/Kolkata", Days: []string{}, TaskTypes: []string{"any"}, MaxConcurrentTasks: 4, AllowLogging: true}},
		{"days canonical, week order, deduplicated",
			Contract{Days: []string{"Sunday", "FRI", " mon ", "monday", "Thurs"}},
			withDefaults(Contract{Days: []string{"mon", "thu", "fri", "sun"}})},
		{"unreadable day kept for Validate",
			Contract{Days: []string{"Funday", "tue"}},
			withDefaults(Contract{Days: []string{"tue", "funday"}})},
		{"task types canonical order",
			Contract{TaskTypes: []string{"Summarization", "TEXT_GEN", "text_gen"}},
			withDefaults(Contract{TaskTypes: []string{"text_gen", "summarization"}})},
		{"any wins",
			Contract{TaskTypes: []string{"code_gen", "Any"}},
			withDefaults(Contract{TaskTypes: []string{"any"}})},
		{"schedule canonical",
			Contract{Schedule: " 9:05 - 17:00 "},
			withDefaults(Contract{Schedule: "09:05-17:00"})},
		{"bad schedule kept",
			Contract{Schedule: "9am-5pm"},
			withDefaults(Contract{Schedule: "9am-5pm"})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.in.Normalize()
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Normalize(%+v)\n got %+v\nwant %+v", c.in, got, c.want)
			}
		})
	}
}

func withDefaults(c Contract) Contract {
	d := Default()
	if c.Days != nil {
		d.Days = c.Days
	}
	if c.TaskTypes != nil {
		d.TaskTypes = c.TaskTypes
	}
	if c.Schedule != "" {
		d.Schedule = c.Schedule
	}
	return d
}

func TestNormalizeDoesNotShare(t *testing.T) {
	in := Contract{Days: []string{"mon"}, TaskTypes: []string{"text_gen"}}
	out := in.Normalize()
	out.Days[0], out.TaskTypes[0] = "x", "y"
	if in.Days[0] != "mon" || in.TaskTypes[0] != "text_gen" {
		t.Fatalf("Normalize shares slices with its receiver: %+v", in)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(*Contract)
		field  string
		value  string
		accept string // part of the accepted form the message must show
	}{
		{"cpu zero", func(c *Contract) { c.CPUPercent = 0 }, "cpu_percent", "0", "an integer from 1 to 100"},
		{"cpu above 100", func(c *Contract) { c.CPUPercent = 101 }, "cpu_percent", "101", "an integer from 1 to 100"},
		{"cpu negative", func(c *Contract) { c.CPUPercent = -5 }, "cpu_percent", "-5", "1 to 100"},
		{"ram too small", func(c *Contract) { c.MaxRAMMB = 63 }, "max_ram_mb", "63", "0 (no limit) or an integer >= 64"},
		{"ram negative", func(c *Contract) { c.MaxRAMMB = -1 }, "max_ram_mb", "-1", ">= 64"},
		{"bandwidth negative", func(c *Contract) { c.MaxBandwidthMbps = -0.5 }, "max_bandwidth_mbps", "-0.5", "0 (no limit) or a positive number"},
		{"bandwidth NaN", func(c *Contract) { c.MaxBandwidthMbps = math.NaN() }, "max_bandwidth_mbps", "NaN", "positive number"},
		{"bandwidth Inf", func(c *Contract) { c.MaxBandwidthMbps = math.Inf(1) }, "max_bandwidth_mbps", "+Inf", "positive number"},
		{"schedule words", func(c *Contract) { c.Schedule = "9am-5pm" }, "schedule", "9am-5pm", `"HH:MM-HH:MM"`},
		{"schedule one time", func(c *Contract) { c.Schedule = "09:00" }, "schedule", "09:00", `"HH:MM-HH:MM"`},
		{"schedule hour 25", func(c *Contract) { c.Schedule = "25:00-06:00" }, "schedule", "25:00-06:00", "24-hour"},
		{"schedule minute 60", func(c *Contract) { c.Schedule = "09:60-10:00" }, "schedule", "09:60-10:00", "HH:MM"},
		{"schedule start 24:00", func(c *Contract) { c.Schedule = "24:00-06:00" }, "schedule", "24:00-06:00", "HH:MM"},
		{"schedule 24:30", func(c *Contract) { c.Schedule = "22:00-24:30" }, "schedule", "22:00-24:30", "HH:MM"},
		{"schedule start equals end", func(c *Contract) { c.Schedule = "09:00-09:00" }, "schedule", "09:00-09:00", "use an empty schedule for always"},
		{"schedule 00:00-00:00", func(c *Contract) { c.Schedule = "00:00-00:00" }, "schedule", "00:00-00:00", "use an empty schedule for always"},
		{"timezone unknown", func(c *Contract) { c.Timezone = "Mars/Olympus" }, "timezone", "Mars/Olympus", "IANA time zone name"},
		{"timezone Local", func(c *Contract) { c.Timezone = "Local" }, "timezone", "Local", "IANA"},
		{"day unknown", func(c *Contract) { c.Days = []string{"mon", "funday"} }, "days", "funday", "mon,tue,wed,thu,fri,sat,sun"},
		{"task types empty", func(c *Contract) { c.TaskTypes = nil }, "task_types", "", "a non-empty list of text_gen"},
		{"task type unknown", func(c *Contract) { c.TaskTypes = []string{"image_gen"} }, "task_types", "image_gen", "embedding, any"},
		{"concurrency zero", func(c *Contract) { c.MaxConcurrentTasks = 0 }, "max_concurrent_tasks", "0", "an integer >= 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := Default()
			c.edit(&k)
			err := k.Validate()
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			fes := FieldErrors(err)
			if len(fes) != 1 {
				t.Fatalf("want one FieldError, got %d: %v", len(fes), err)
			}
			fe := fes[0]
			if fe.Field != c.field || fe.Value != c.value {
				t.Fatalf("FieldError{%q, %q}, want {%q, %q}", fe.Field, fe.Value, c.field, c.value)
			}
			prefix := "consent: " + c.field + ` "` + c.value + `": must be `
			if msg := err.Error(); !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, c.accept) {
				t.Fatalf("message %q: want prefix %q and %q", msg, prefix, c.accept)
			}
			var target *FieldError
			if !errors.As(err, &target) {
				t.Fatal("errors.As finds no *FieldError")
			}
		})
	}
}

func TestValidateExample(t *testing.T) {
	k := Default()
	k.MaxConcurrentTasks = 0
	if got, want := k.Validate().Error(), `consent: max_concurrent_tasks "0": must be an integer >= 1`; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestValidateJoinsEveryField(t *testing.T) {
	err := Contract{Schedule: "x", Timezone: "nowhere", Days: []string{"x"}}.Validate()
	var fields []string
	for _, fe := range FieldErrors(err) {
		fields = append(fields, fe.Field)
	}
	want := []string{"cpu_percent", "schedule", "timezone", "days", "task_types", "max_concurrent_tasks"}
	if !reflect.DeepEqual(fields, want) {
		t.Fatalf("fields %v, want %v\n%v", fields, want, err)
	}
}

func TestValidateAccepts(t *testing.T) {
	for _, k := range []Contract{
		{CPUPercent: 1, MaxConcurrentTasks: 1, TaskTypes: []string{"embedding"}},
		{CPUPercent: 100, MaxRAMMB: 64, MaxBandwidthMbps: 0.001, Schedule: "22:00-06:00", Timezone: "Asia/Kolkata",
			Days: []string{"Monday", "SAT"}, TaskTypes: []string{"Text_Gen", "any"}, MaxConcurrentTasks: 64},
		{CPUPercent: 50, Schedule: "00:00-24:00", Timezone: "", MaxConcurrentTasks: 1, TaskTypes: []string{"any"}},
		{CPUPercent: 50, Schedule: " 9:00 - 17:30 ", Timezone: " Europe/Paris ", MaxConcurrentTasks: 1, TaskTypes: []string{"any"}},
	} {
		if err := k.Validate(); err != nil {
			t.Errorf("%+v: %v", k, err)
		}
	}
}

func TestParseDays(t *testing.T) {
	cases := []struct {
		in      string
		want    []string
		badVals []string
	}{
		{"", []string{}, nil},
		{" , ", []string{}, nil},
		{"mon,tue", []string{"mon", "tue"}, nil},
		{"Friday, monday ,SUN,fri", []string{"mon", "fri", "sun"}, nil},
		{"mon,funday,x", nil, []string{"funday", "x"}},
	}
	for _, c := range cases {
		got, err := ParseDays(c.in)
		if c.badVals != nil {
			var vals []string
			for _, fe := range FieldErrors(err) {
				if fe.Field != "days" {
					t.Errorf("field %q", fe.Field)
				}
				vals = append(vals, fe.Value)
			}
			if !reflect.DeepEqual(vals, c.badVals) {
				t.Errorf("ParseDays(%q) bad values %v, want %v (%v)", c.in, vals, c.badVals, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseDays(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

func TestParseTaskTypes(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		bad  bool
	}{
		{"any", []string{"any"}, false},
		{"summarization, TEXT_GEN", []string{"text_gen", "summarization"}, false},
		{"embedding,any", []string{"any"}, false},
		{"", nil, true},
		{" , ", nil, true},
		{"text_gen,image_gen", nil, true},
	}
	for _, c := range cases {
		got, err := ParseTaskTypes(c.in)
		if c.bad {
			if err == nil || len(FieldErrors(err)) == 0 || !strings.Contains(err.Error(), "task_types") {
				t.Errorf("ParseTaskTypes(%q) = %v, %v; want a task_types FieldError", c.in, got, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseTaskTypes(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}
