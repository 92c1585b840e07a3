package consent

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

const minutesPerDay = 24 * 60

// window is a daily schedule in minutes after wall-clock midnight: [start, end), crossing midnight when
// start > end. end may be 1440 ("24:00"); start == end is never built.
type window struct{ start, end int }

func (w window) crossesMidnight() bool { return w.start > w.end }

func (w window) String() string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", w.start/60, w.start%60, w.end/60, w.end%60)
}

var (
	errEmptyWindow = errors.New("schedule start equals end")
	errBadSchedule = errors.New("schedule is not HH:MM-HH:MM")
)

// parseSchedule reads "HH:MM-HH:MM" (hours may have one digit; "24:00" is accepted as an end). ok is false for
// the empty schedule, which means always.
func parseSchedule(s string) (w window, ok bool, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return window{}, false, nil
	}
	a, b, found := strings.Cut(s, "-")
	if !found {
		return window{}, false, errBadSchedule
	}
	start, okA := parseClock(a, false)
	end, okB := parseClock(b, true)
	if !okA || !okB {
		return window{}, false, errBadSchedule
	}
	if start == end {
		return window{}, false, errEmptyWindow
	}
	return window{start: start, end: end}, true, nil
}

// parseClock reads "H:MM" or "HH:MM"; "24:00" only when allow24.
func parseClock(s string, allow24 bool) (int, bool) {
	s = strings.TrimSpace(s)
	h, m, found := strings.Cut(s, ":")
	if !found || len(h) < 1 || len(h) > 2 || len(m) != 2 || !allDigits(h) || !allDigits(m) {
		return 0, false
	}
	hh, _ := strconv.Atoi(h)
	mm, _ := strconv.Atoi(m)
	if mm > 59 || hh > 24 || (hh == 24 && (!allow24 || mm != 0)) {
		return 0, false
	}
	return hh*60 + mm, true
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// rules is a contract's schedule and days compiled once: loading a time zone reads the zone database.
type rules struct {
	loc       *time.Location
	tz        string
	hasWindow bool // false: the whole day
	w         window
	days      [7]bool // by time.Weekday
	daysText  string  // "mon,tue" for messages; "" = every day
	err       error   // the contract's schedule, days or timezone cannot be read: never open
}

func compileRules(c Contract) rules {
	var r rules
	loc, err := loadLocation(c.Timezone)
	if err != nil {
		r.err = fmt.Errorf("timezone %q: %w", c.Timezone, err)
		return r
	}
	r.loc, r.tz = loc, loc.String()
	w, ok, err := parseSchedule(c.Schedule)
	if err != nil {
		r.err = fmt.Errorf("schedule %q: %w", c.Schedule, err)
		return r
	}
	r.hasWindow, r.w = ok, w
	if len(c.Days) == 0 {
		r.days = [7]bool{true, true, true, true, true, true, true}
		return r
	}
	for _, d := range c.Days {
		wd, ok := parseDay(d)
		if !ok {
			r.err = fmt.Errorf("day %q is not a day of the week", d)
			return r
		}
		r.days[wd] = true
	}
	var names []string
	for _, wd := range weekOrder {
		if r.days[wd] {
			names = append(names, dayNames[wd])
		}
	}
	r.daysText = strings.Join(names, ",")
	return r
}

// alwaysOpen reports whether the rules never close: every day, the whole day.
func (r *rules) alwaysOpen() bool {
	if r.err != nil {
		return false
	}
	for _, ok := range r.days {
		if !ok {
			return false
		}
	}
	return !r.hasWindow || (r.w.start == 0 && r.w.end == minutesPerDay)
}

// open reports whether t falls in a window, and if not, the reason code and the day that decided it.
func (r *rules) open(t time.Time) (bool, string, time.Weekday) {
	if r.err != nil {
		return false, CodeOutsideSchedule, 0
	}
	lt := t.In(r.loc)
	today := lt.Weekday()
	if !r.hasWindow {
		if r.days[today] {
			return true, "", today
		}
		return false, CodeDayNotAllowed, today
	}
	// Seconds after wall-clock midnight, so 16:59:59 is before an end of 17:00.
	sec := lt.Hour()*3600 + lt.Minute()*60 + lt.Second()
	start, end := r.w.start*60, r.w.end*60
	// owner is the day whose window covers the wall-clock time, if any.
	owner, covered := today, false
	switch {
	case !r.w.crossesMidnight():
		covered = sec >= start && sec < end
	case sec >= start:
		covered = true
	case sec < end:
		owner, covered = (today+6)%7, true
	}
	if covered {
		if r.days[owner] {
			return true, "", owner
		}
		return false, CodeDayNotAllowed, owner
	}
	if !r.days[today] {
		return false, CodeDayNotAllowed, today
	}
	return false, CodeOutsideSchedule, today
}

// nextOpen returns the first instant >= t at which open is true; zero if the rules are always open or never open
// (unreadable). Openings happen where the wall clock reaches a window start, or at a zone transition (the wall
// clock jumps), so those are the only candidates: a window start is tried under every UTC offset the zone uses
// in the next days, which catches the second pass through a repeated hour.
func (r *rules) nextOpen(t time.Time) time.Time {
	if r.err != nil || r.alwaysOpen() {
		return time.Time{}
	}
	if ok, _, _ := r.open(t); ok {
		return t
	}
	// Every day is tried for a week and a bit: the next allowed day's window may be skipped by a DST change.
	const horizon = 9 * 24 * time.Hour
	limit := t.Add(horizon)
	offsets := map[int]bool{}
	var transitions []time.Time
	for x := t; ; {
		lx := x.In(r.loc)
		_, off := lx.Zone()
		offsets[off] = true
		_, zoneEnd := lx.ZoneBounds()
		if zoneEnd.IsZero() || !zoneEnd.Before(limit) || !zoneEnd.After(x) {
			break
		}
		transitions = append(transitions, zoneEnd)
		x = zoneEnd
	}
	var best time.Time
	consider := func(x time.Time) {
		if !x.After(t) || !x.Before(limit) || (!best.IsZero() && !x.Before(best)) {
			return
		}
		if ok, _, _ := r.open(x); ok {
			best = x
		}
	}
	for _, x := range transitions {
		consider(x)
	}
	startMin := 0
	if r.hasWindow {
		startMin = r.w.start
	}
	y, m, d := t.In(r.loc).Date()
	for i := -1; i <= 9; i++ {
		wall := time.Date(y, m, d+i, startMin/60, startMin%60, 0, 0, time.UTC)
		for off := range offsets {
			consider(wall.Add(-time.Duration(off) * time.Second))
		}
	}
	return best
}

// check returns the zero Reason when t is open; otherwise why not, in words an owner can act on, and when the
// schedule next opens (zero if it never does).
func (r *rules) check(t time.Time, schedule string) (Reason, time.Time) {
	ok, code, day := r.open(t)
	if ok {
		return Reason{}, time.Time{}
	}
	if r.err != nil {
		return Reason{Code: code, Message: fmt.Sprintf("consent: contract cannot be read (%v); accepting nothing", r.err)}, time.Time{}
	}
	var msg string
	switch code {
	case CodeDayNotAllowed:
		msg = fmt.Sprintf("consent: not accepting on %s (days: %s)", dayNames[day], r.daysText)
		if day != t.In(r.loc).Weekday() {
			msg += fmt.Sprintf("; the %s window now running started on %s", schedule, dayNames[day])
		}
	default:
		msg = fmt.Sprintf("consent: outside schedule %s (%s)", schedule, r.tz)
	}
	next := r.nextOpen(t)
	if !next.IsZero() {
		msg += "; opens again at " + next.In(r.loc).Format(time.RFC3339)
	}
	return Reason{Code: code, Message: msg}, next
}

// InWindow reports whether t falls inside the contract's schedule on an allowed day, read on the wall clock of the
// contract's time zone; when it does not, the Reason says why and when the next window opens. A window crossing
// midnight belongs to the day it starts on. An unreadable schedule, timezone or day is never open (fail closed):
// Validate first.
func (c Contract) InWindow(t time.Time) (bool, Reason) {
	r := compileRules(c)
	reason, _ := r.check(t, c.scheduleText())
	return reason.Code == "", reason
}

// NextOpen returns the first instant at or after t when the contract accepts work by its schedule and days: t
// itself when t is inside a window, the zero time when the contract is always open (or cannot be read).
func (c Contract) NextOpen(t time.Time) time.Time {
	r := compileRules(c)
	return r.nextOpen(t)
}

func (c Contract) scheduleText() string {
	if w, ok, err := parseSchedule(c.Schedule); err == nil && ok {
		return w.String()
	}
	return c.Schedule
}
