package consent

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Contract is what the node's owner consents to. JSON names are the ones /v1/status shows.
type Contract struct {
	CPUPercent         int      `json:"cpu_percent"`          // 1..100
	MaxRAMMB           int      `json:"max_ram_mb"`           // MiB; 0 = no limit, else >= 64
	MaxBandwidthMbps   float64  `json:"max_bandwidth_mbps"`   // megabits/s of peer traffic; 0 = no limit
	Schedule           string   `json:"schedule"`             // "HH:MM-HH:MM", may cross midnight; "" = always
	Timezone           string   `json:"timezone"`             // IANA name the schedule and days are read in
	Days               []string `json:"days"`                 // mon..sun; empty = every day
	TaskTypes          []string `json:"task_types"`           // TaskType values or "any"
	MaxConcurrentTasks int      `json:"max_concurrent_tasks"` // >= 1
	AllowLogging       bool     `json:"allow_logging"`        // false: prompts and outputs of peer work are not logged
}

// Defaults for the fields Normalize fills when they are zero.
const (
	DefaultCPUPercent         = 25
	DefaultMaxConcurrentTasks = 2
	DefaultTimezone           = "UTC"
	// AnyTask in task_types accepts every task type.
	AnyTask = "any"
	// MinRAMMB is the smallest RAM limit accepted: below it no model loads.
	MinRAMMB = 64
)

// Default returns the contract a node runs with when its owner says nothing: a quarter of the CPU, two concurrent
// tasks, any task type, at any time, no logging of peers' prompts.
func Default() Contract {
	return Contract{
		CPUPercent:         DefaultCPUPercent,
		Timezone:           DefaultTimezone,
		Days:               []string{},
		TaskTypes:          []string{AnyTask},
		MaxConcurrentTasks: DefaultMaxConcurrentTasks,
	}
}

// Normalize fills defaults for zero values (cpu_percent, timezone, task_types, max_concurrent_tasks) and puts
// days, task types and the schedule in canonical form: lowercase three-letter days in week order, task types in
// declaration order ("any" alone when listed), "HH:MM-HH:MM". Entries it cannot read are kept, lowercased, for
// Validate to report. It never shares slices with c.
//
// Validate does not normalize: a contract built from a file, the environment or flags should be validated as is,
// so that an explicit 0 is reported rather than replaced by a default.
func (c Contract) Normalize() Contract {
	if c.CPUPercent == 0 {
		c.CPUPercent = DefaultCPUPercent
	}
	if c.MaxConcurrentTasks == 0 {
		c.MaxConcurrentTasks = DefaultMaxConcurrentTasks
	}
	c.Timezone = strings.TrimSpace(c.Timezone)
	if c.Timezone == "" {
		c.Timezone = DefaultTimezone
	}
	c.Schedule = strings.TrimSpace(c.Schedule)
	if w, ok, err := parseSchedule(c.Schedule); err == nil && ok {
		c.Schedule = w.String()
	}
	c.Days = normalizeDays(c.Days)
	if len(c.TaskTypes) == 0 {
		c.TaskTypes = []string{AnyTask}
	} else {
		c.TaskTypes = normalizeTaskTypes(c.TaskTypes)
	}
	return c
}

// Validate reports every invalid field as a *FieldError, joined with errors.Join; nil when c is valid.
func (c Contract) Validate() error {
	var errs []error
	add := func(fe *FieldError) {
		if fe != nil {
			errs = append(errs, fe)
		}
	}
	add(checkCPUPercent(c.CPUPercent))
	add(checkMaxRAMMB(c.MaxRAMMB))
	add(checkBandwidth(c.MaxBandwidthMbps))
	add(checkSchedule(c.Schedule))
	add(checkTimezone(c.Timezone))
	for _, d := range c.Days {
		if _, ok := parseDay(d); !ok {
			add(&FieldError{Field: fieldDays, Value: d, Accepted: acceptDays})
		}
	}
	if len(c.TaskTypes) == 0 {
		add(&FieldError{Field: fieldTaskTypes, Value: "", Accepted: acceptTaskTypes})
	}
	for _, t := range c.TaskTypes {
		if !validTaskTypeEntry(t) {
			add(&FieldError{Field: fieldTaskTypes, Value: t, Accepted: acceptTaskTypes})
		}
	}
	add(checkMaxConcurrent(c.MaxConcurrentTasks))
	return errors.Join(errs...)
}

// FieldError is one invalid value: which field (or environment variable) held it and what is accepted there.
type FieldError struct {
	Field    string // JSON field name, or the ARIA_* variable it came from
	Value    string
	Accepted string // the accepted form, read after "must be"
}

func (e *FieldError) Error() string { return "consent: " + e.detail() }

func (e *FieldError) detail() string {
	return fmt.Sprintf("%s %q: must be %s", e.Field, e.Value, e.Accepted)
}

// FieldErrors returns every *FieldError inside err (as Validate, LoadFile and FromEnv join them), so a caller can
// name its own flag instead of the field.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if fe, ok := err.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// Field names as they appear in JSON and in FieldError.Field.
const (
	fieldCPUPercent    = "cpu_percent"
	fieldMaxRAMMB      = "max_ram_mb"
	fieldBandwidth     = "max_bandwidth_mbps"
	fieldSchedule      = "schedule"
	fieldTimezone      = "timezone"
	fieldDays          = "days"
	fieldTaskTypes     = "task_types"
	fieldMaxConcurrent = "max_concurrent_tasks"
	fieldAllowLogging  = "allow_logging"
)

// Accepted forms, shared by Validate, LoadFile and FromEnv so each field is described once.
const (
	acceptCPUPercent      = "an integer from 1 to 100"
	acceptMaxRAMMB        = "0 (no limit) or an integer >= 64 (MiB)"
	acceptBandwidth       = "0 (no limit) or a positive number of megabits per second"
	acceptSchedule        = `"HH:MM-HH:MM" in 24-hour time, e.g. "09:00-17:00" or "22:00-06:00"; empty for always`
	acceptScheduleNonZero = `a window whose start differs from its end; use an empty schedule for always`
	acceptTimezone        = `an IANA time zone name, e.g. "UTC", "Europe/Paris", "America/New_York"`
	acceptDays            = "a list of mon,tue,wed,thu,fri,sat,sun (full names accepted); empty for every day"
	acceptTaskTypes       = "a non-empty list of text_gen, code_gen, summarization, translation, embedding, any"
	acceptMaxConcurrent   = "an integer >= 1"
	acceptBool            = "true or false (1/0, yes/no, on/off)"
)

func checkCPUPercent(v int) *FieldError {
	if v < 1 || v > 100 {
		return &FieldError{Field: fieldCPUPercent, Value: fmt.Sprint(v), Accepted: acceptCPUPercent}
	}
	return nil
}

func checkMaxRAMMB(v int) *FieldError {
	if v != 0 && v < MinRAMMB {
		return &FieldError{Field: fieldMaxRAMMB, Value: fmt.Sprint(v), Accepted: acceptMaxRAMMB}
	}
	return nil
}

func checkBandwidth(v float64) *FieldError {
	if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return &FieldError{Field: fieldBandwidth, Value: fmt.Sprint(v), Accepted: acceptBandwidth}
	}
	return nil
}

func checkSchedule(s string) *FieldError {
	if _, _, err := parseSchedule(s); err != nil {
		accepted := acceptSchedule
		if errors.Is(err, errEmptyWindow) {
			accepted = acceptScheduleNonZero
		}
		return &FieldError{Field: fieldSchedule, Value: s, Accepted: accepted}
	}
	return nil
}

func checkTimezone(name string) *FieldError {
	if _, err := loadLocation(name); err != nil {
		return &FieldError{Field: fieldTimezone, Value: name, Accepted: acceptTimezone}
	}
	return nil
}

func checkMaxConcurrent(v int) *FieldError {
	if v < 1 {
		return &FieldError{Field: fieldMaxConcurrent, Value: fmt.Sprint(v), Accepted: acceptMaxConcurrent}
	}
	return nil
}

// loadLocation is time.LoadLocation with "" read as UTC and surrounding space ignored. "Local" is refused: a
// contract means the same hours wherever the node is restarted.
func loadLocation(name string) (*time.Location, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return time.UTC, nil
	}
	if name == "Local" {
		return nil, errors.New("Local is not a fixed zone")
	}
	return time.LoadLocation(name)
}

// Days of the week in contract order (Monday first), indexed by time.Weekday in dayNames.
var (
	weekOrder = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}
	dayNames  = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
	dayAlias  = map[string]time.Weekday{
		"mon": time.Monday, "monday": time.Monday,
		"tue": time.Tuesday, "tues": time.Tuesday, "tuesday": time.Tuesday,
		"wed": time.Wednesday, "wednesday": time.Wednesday,
		"thu": time.Thursday, "thur": time.Thursday, "thurs": time.Thursday, "thursday": time.Thursday,
		"fri": time.Friday, "friday": time.Friday,
		"sat": time.Saturday, "saturday": time.Saturday,
		"sun": time.Sunday, "sunday": time.Sunday,
	}
)

func parseDay(s string) (time.Weekday, bool) {
	d, ok := dayAlias[strings.ToLower(strings.TrimSpace(s))]
	return d, ok
}

// normalizeDays returns days as canonical names in week order without duplicates, followed by any unreadable
// entries (lowercased). It is never nil, so JSON shows [] rather than null.
func normalizeDays(days []string) []string {
	var set [7]bool
	var bad []string
	for _, d := range days {
		if wd, ok := parseDay(d); ok {
			set[wd] = true
		} else {
			bad = append(bad, strings.ToLower(strings.TrimSpace(d)))
		}
	}
	out := []string{}
	for _, wd := range weekOrder {
		if set[wd] {
			out = append(out, dayNames[wd])
		}
	}
	return append(out, bad...)
}

// normalizeTaskTypes returns task types in declaration order without duplicates, "any" alone if listed, followed by
// unreadable entries (lowercased).
func normalizeTaskTypes(types []string) []string {
	seen := map[string]bool{}
	var bad []string
	for _, t := range types {
		t = strings.ToLower(strings.TrimSpace(t))
		if validTaskTypeEntry(t) {
			seen[t] = true
		} else {
			bad = append(bad, t)
		}
	}
	var out []string
	if seen[AnyTask] {
		out = []string{AnyTask}
	} else {
		for _, t := range allTaskTypes {
			if seen[string(t)] {
				out = append(out, string(t))
			}
		}
	}
	return append(out, bad...)
}

func validTaskTypeEntry(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == AnyTask {
		return true
	}
	_, err := ParseTaskType(s)
	return err == nil
}

// ParseDays reads a comma-separated list of days as a flag gives it ("mon,tue", "Monday, friday"); "" means every
// day and returns an empty list. The result is canonical (see Normalize).
func ParseDays(s string) ([]string, error) {
	items := splitList(s)
	var errs []error
	for _, d := range items {
		if _, ok := parseDay(d); !ok {
			errs = append(errs, &FieldError{Field: fieldDays, Value: d, Accepted: acceptDays})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return normalizeDays(items), nil
}

// ParseTaskTypes reads a comma-separated list of task types ("text_gen,summarization", "any"). An empty list is an
// error: a contract accepts at least one task type. The result is canonical (see Normalize).
func ParseTaskTypes(s string) ([]string, error) {
	items := splitList(s)
	if len(items) == 0 {
		return nil, &FieldError{Field: fieldTaskTypes, Value: s, Accepted: acceptTaskTypes}
	}
	var errs []error
	for _, t := range items {
		if !validTaskTypeEntry(t) {
			errs = append(errs, &FieldError{Field: fieldTaskTypes, Value: t, Accepted: acceptTaskTypes})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return normalizeTaskTypes(items), nil
}

// splitList splits a comma list, dropping empty items and surrounding space.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return slices.Clone(s)
}
