package consent

import (
	"testing"
	"time"
)

// at parses "2006-01-02 15:04:05" on the wall clock of zone.
func at(t *testing.T, zone, wall string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatalf("load %s: %v", zone, err)
	}
	if len(wall) == len("2006-01-02 15:04") {
		wall += ":00"
	}
	ts, err := time.ParseInLocation("2006-01-02 15:04:05", wall, loc)
	if err != nil {
		t.Fatalf("parse %q: %v", wall, err)
	}
	return ts
}

func utc(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return ts
}

func TestInWindow(t *testing.T) {
	// 2026-11-20 is a Friday, 2026-11-21 a Saturday.
	type tc struct {
		name     string
		schedule string
		zone     string
		days     []string
		at       time.Time
		want     bool
		code     string
	}
	cases := []tc{
		{"start inclusive", "09:00-17:00", "UTC", nil, at(t, "UTC", "2026-11-20 09:00"), true, ""},
		{"before start", "09:00-17:00", "UTC", nil, at(t, "UTC", "2026-11-20 08:59:59"), false, CodeOutsideSchedule},
		{"last second", "09:00-17:00", "UTC", nil, at(t, "UTC", "2026-11-20 16:59:59"), true, ""},
		{"end exclusive", "09:00-17:00", "UTC", nil, at(t, "UTC", "2026-11-20 17:00"), false, CodeOutsideSchedule},
		{"end 24:00 last second", "18:00-24:00", "UTC", nil, at(t, "UTC", "2026-11-20 23:59:59"), true, ""},
		{"end 24:00 midnight", "18:00-24:00", "UTC", nil, at(t, "UTC", "2026-11-21 00:00"), false, CodeOutsideSchedule},
		{"single-digit hour", "9:00-17:00", "UTC", nil, at(t, "UTC", "2026-11-20 09:30"), true, ""},

		{"cross start", "22:00-06:00", "UTC", nil, at(t, "UTC", "2026-11-20 22:00"), true, ""},
		{"cross before midnight", "22:00-06:00", "UTC", nil, at(t, "UTC", "2026-11-20 23:59:59"), true, ""},
		{"cross midnight", "22:00-06:00", "UTC", nil, at(t, "UTC", "2026-11-21 00:00"), true, ""},
		{"cross last second", "22:00-06:00", "UTC", nil, at(t, "UTC", "2026-11-21 05:59:59"), true, ""},
		{"cross end exclusive", "22:00-06:00", "UTC", nil, at(t, "UTC", "2026-11-21 06:00"), false, CodeOutsideSchedule},
		{"cross before start", "22:00-06:00", "UTC", nil, at(t, "UTC", "2026-11-20 21:59:59"), false, CodeOutsideSchedule},
		{"cross midday", "22:00-06:00", "UTC", nil, at(t, "UTC", "2026-11-20 12:00"), false, CodeOutsideSchedule},
		{"cross end 00:00", "22:00-00:00", "UTC", nil, at(t, "UTC", "2026-11-21 00:00"), false, CodeOutsideSchedule},

		{"days: allowed", "", "UTC", []string{"mon", "tue", "wed", "thu", "fri"}, at(t, "UTC", "2026-11-20 23:59:59"), true, ""},
		{"days: weekend", "", "UTC", []string{"mon", "tue", "wed", "thu", "fri"}, at(t, "UTC", "2026-11-21 00:00"), false, CodeDayNotAllowed},
		{"days: window on wrong day", "09:00-17:00", "UTC", []string{"fri"}, at(t, "UTC", "2026-11-21 10:00"), false, CodeDayNotAllowed},
		{"days: outside window on wrong day", "09:00-17:00", "UTC", []string{"fri"}, at(t, "UTC", "2026-11-21 20:00"), false, CodeDayNotAllowed},
		{"days: outside window on right day", "09:00-17:00", "UTC", []string{"fri"}, at(t, "UTC", "2026-11-20 20:00"), false, CodeOutsideSchedule},

		// A window crossing midnight belongs to the day it starts on.
		{"fri window, sat 02:00", "22:00-06:00", "UTC", []string{"fri"}, at(t, "UTC", "2026-11-21 02:00"), true, ""},
		{"fri window, fri 02:00 is thu's", "22:00-06:00", "UTC", []string{"fri"}, at(t, "UTC", "2026-11-20 02:00"), false, CodeDayNotAllowed},
		{"fri window, fri 22:30", "22:00-06:00", "UTC", []string{"fri"}, at(t, "UTC", "2026-11-20 22:30"), true, ""},
		{"fri window, sat 22:30 is sat's", "22:00-06:00", "UTC", []string{"fri"}, at(t, "UTC", "2026-11-21 22:30"), false, CodeDayNotAllowed},
		{"fri window, sat noon", "22:00-06:00", "UTC", []string{"fri"}, at(t, "UTC", "2026-11-21 12:00"), false, CodeDayNotAllowed},
		{"fri window, fri noon", "22:00-06:00", "UTC", []string{"fri"}, at(t, "UTC", "2026-11-20 12:00"), false, CodeOutsideSchedule},
		{"sun window, mon 01:00", "23:00-02:00", "UTC", []string{"sun"}, at(t, "UTC", "2026-11-23 01:00"), true, ""},

		{"paris start", "09:00-17:00", "Europe/Paris", nil, utc(t, "2026-11-20T08:00:00Z"), true, ""},
		{"paris before", "09:00-17:00", "Europe/Paris", nil, utc(t, "2026-11-20T07:59:59Z"), false, CodeOutsideSchedule},
		{"paris end", "09:00-17:00", "Europe/Paris", nil, utc(t, "2026-11-20T16:00:00Z"), false, CodeOutsideSchedule},
		{"new york start", "09:00-17:00", "America/New_York", nil, utc(t, "2026-11-20T14:00:00Z"), true, ""},
		{"new york before", "09:00-17:00", "America/New_York", nil, utc(t, "2026-11-20T13:59:59Z"), false, CodeOutsideSchedule},
		{"new york: still friday there", "09:00-17:00", "America/New_York", []string{"fri"}, utc(t, "2026-11-21T01:00:00Z"), false, CodeOutsideSchedule},
		{"new york: saturday there", "09:00-17:00", "America/New_York", []string{"fri"}, utc(t, "2026-11-21T13:00:00Z"), false, CodeDayNotAllowed},
		{"new york: fri night window", "22:00-06:00", "America/New_York", []string{"fri"}, utc(t, "2026-11-21T03:30:00Z"), true, ""},
		{"kolkata start", "09:00-17:00", "Asia/Kolkata", nil, utc(t, "2026-11-20T03:30:00Z"), true, ""},
		{"kolkata before", "09:00-17:00", "Asia/Kolkata", nil, utc(t, "2026-11-20T03:29:59Z"), false, CodeOutsideSchedule},
		{"kolkata last second", "09:00-17:00", "Asia/Kolkata", nil, utc(t, "2026-11-20T11:29:59Z"), true, ""},
		{"kolkata end", "09:00-17:00", "Asia/Kolkata", nil, utc(t, "2026-11-20T11:30:00Z"), false, CodeOutsideSchedule},
		{"kolkata day", "", "Asia/Kolkata", []string{"sat"}, utc(t, "2026-11-20T18:30:00Z"), true, ""},

		// DST, wall-clock based. New York springs forward 2026-03-08 02:00 EST -> 03:00 EDT and falls back
		// 2026-11-01 02:00 EDT -> 01:00 EST; Paris springs forward 2026-03-29 02:00 CET -> 03:00 CEST.
		{"spring forward: 01:59:59 EST", "01:00-03:00", "America/New_York", nil, utc(t, "2026-03-08T06:59:59Z"), true, ""},
		{"spring forward: 03:00 EDT", "01:00-03:00", "America/New_York", nil, utc(t, "2026-03-08T07:00:00Z"), false, CodeOutsideSchedule},
		{"spring forward: gap window", "02:30-03:30", "America/New_York", nil, utc(t, "2026-03-08T07:00:00Z"), true, ""},
		{"spring forward: gap window end", "02:30-03:30", "America/New_York", nil, utc(t, "2026-03-08T07:30:00Z"), false, CodeOutsideSchedule},
		{"fall back: first pass", "01:30-02:00", "America/New_York", nil, utc(t, "2026-11-01T05:30:00Z"), true, ""},
		{"fall back: between passes", "01:30-02:00", "America/New_York", nil, utc(t, "2026-11-01T06:15:00Z"), false, CodeOutsideSchedule},
		{"fall back: second pass", "01:30-02:00", "America/New_York", nil, utc(t, "2026-11-01T06:30:00Z"), true, ""},
		{"paris dst day start", "09:00-17:00", "Europe/Paris", nil, utc(t, "2026-03-29T07:00:00Z"), true, ""},
		{"paris dst day before", "09:00-17:00", "Europe/Paris", nil, utc(t, "2026-03-29T06:59:59Z"), false, CodeOutsideSchedule},

		{"always", "", "", nil, at(t, "UTC", "2026-11-21 03:00"), true, ""},
		{"whole day", "00:00-24:00", "UTC", []string{"sat"}, at(t, "UTC", "2026-11-21 00:00"), true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := Contract{Schedule: c.schedule, Timezone: c.zone, Days: c.days}
			ok, reason := k.InWindow(c.at)
			if ok != c.want || reason.Code != c.code {
				t.Fatalf("InWindow(%s) = %v, %+v; want %v, code %q", c.at.Format(time.RFC3339), ok, reason, c.want, c.code)
			}
			if ok != (reason.Message == "") {
				t.Fatalf("message %q with ok=%v", reason.Message, ok)
			}
		})
	}
}

func TestInWindowMessages(t *testing.T) {
	cases := []struct {
		name string
		c    Contract
		at   time.Time
		want string
	}{
		{"outside, paris",
			Contract{Schedule: "09:00-17:00", Timezone: "Europe/Paris"}, at(t, "Europe/Paris", "2026-11-24 18:00"),
			"consent: outside schedule 09:00-17:00 (Europe/Paris); opens again at 2026-11-25T09:00:00+01:00"},
		{"weekend",
			Contract{Days: []string{"mon", "tue", "wed", "thu", "fri"}}, at(t, "UTC", "2026-11-21 12:00"),
			"consent: not accepting on sat (days: mon,tue,wed,thu,fri); opens again at 2026-11-23T00:00:00Z"},
		{"previous day's window",
			Contract{Schedule: "22:00-06:00", Days: []string{"fri"}}, at(t, "UTC", "2026-11-20 02:00"),
			"consent: not accepting on thu (days: fri); the 22:00-06:00 window now running started on thu; opens again at 2026-11-20T22:00:00Z"},
		{"canonical schedule in message",
			Contract{Schedule: " 9:00 - 17:00 ", Timezone: "Asia/Kolkata"}, at(t, "Asia/Kolkata", "2026-11-20 08:00"),
			"consent: outside schedule 09:00-17:00 (Asia/Kolkata); opens again at 2026-11-20T09:00:00+05:30"},
		{"unreadable contract",
			Contract{Schedule: "nine to five"}, at(t, "UTC", "2026-11-20 12:00"),
			`consent: contract cannot be read (schedule "nine to five": schedule is not HH:MM-HH:MM); accepting nothing`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ok, reason := c.c.InWindow(c.at)
			if ok || reason.Message != c.want {
				t.Fatalf("got %v %q\nwant %q", ok, reason.Message, c.want)
			}
		})
	}
}

func TestNextOpen(t *testing.T) {
	cases := []struct {
		name string
		c    Contract
		at   time.Time
		want time.Time // zero: always open
	}{
		{"always open", Contract{}, at(t, "UTC", "2026-11-20 12:00"), time.Time{}},
		{"whole day, every day", Contract{Schedule: "00:00-24:00"}, at(t, "UTC", "2026-11-20 12:00"), time.Time{}},
		{"every day listed", Contract{Days: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}}, at(t, "UTC", "2026-11-20 12:00"), time.Time{}},
		{"unreadable", Contract{Timezone: "Mars/Olympus"}, at(t, "UTC", "2026-11-20 12:00"), time.Time{}},
		{"inside: now", Contract{Schedule: "09:00-17:00"}, at(t, "UTC", "2026-11-20 12:00"), at(t, "UTC", "2026-11-20 12:00")},
		{"later today", Contract{Schedule: "09:00-17:00"}, at(t, "UTC", "2026-11-20 06:00"), at(t, "UTC", "2026-11-20 09:00")},
		{"tomorrow", Contract{Schedule: "09:00-17:00"}, at(t, "UTC", "2026-11-20 17:00"), at(t, "UTC", "2026-11-21 09:00")},
		{"after the weekend, paris",
			Contract{Schedule: "09:00-17:00", Timezone: "Europe/Paris", Days: []string{"mon", "tue", "wed", "thu", "fri"}},
			at(t, "Europe/Paris", "2026-11-20 18:00"), at(t, "Europe/Paris", "2026-11-23 09:00")},
		{"next friday night", Contract{Schedule: "22:00-06:00", Days: []string{"fri"}}, at(t, "UTC", "2026-11-21 07:00"), at(t, "UTC", "2026-11-27 22:00")},
		{"friday night later today", Contract{Schedule: "22:00-06:00", Days: []string{"fri"}}, at(t, "UTC", "2026-11-20 02:00"), at(t, "UTC", "2026-11-20 22:00")},
		{"day only", Contract{Days: []string{"sun"}}, at(t, "UTC", "2026-11-20 12:00"), at(t, "UTC", "2026-11-22 00:00")},
		{"kolkata", Contract{Schedule: "09:00-17:00", Timezone: "Asia/Kolkata"}, utc(t, "2026-11-20T12:00:00Z"), utc(t, "2026-11-21T03:30:00Z")},
		{"new york evening", Contract{Schedule: "22:00-06:00", Timezone: "America/New_York"}, utc(t, "2026-11-20T12:00:00Z"), utc(t, "2026-11-21T03:00:00Z")},
		// The 02:00-02:30 window does not exist on 2026-03-08 in New York: next is the 9th (EDT).
		{"window skipped by DST", Contract{Schedule: "02:00-02:30", Timezone: "America/New_York"},
			utc(t, "2026-03-08T05:00:00Z"), utc(t, "2026-03-09T06:00:00Z")},
		// 02:30-03:30 opens when the clock jumps to 03:00 EDT.
		{"window cut by DST", Contract{Schedule: "02:30-03:30", Timezone: "America/New_York"},
			utc(t, "2026-03-08T05:00:00Z"), utc(t, "2026-03-08T07:00:00Z")},
		// 01:30-02:00 runs twice on 2026-11-01; between the passes the next opening is 01:30 EST.
		{"repeated hour", Contract{Schedule: "01:30-02:00", Timezone: "America/New_York"},
			utc(t, "2026-11-01T06:00:00Z"), utc(t, "2026-11-01T06:30:00Z")},
		{"only day skipped by DST", Contract{Schedule: "02:00-02:30", Timezone: "America/New_York", Days: []string{"sun"}},
			utc(t, "2026-03-08T05:00:00Z"), utc(t, "2026-03-15T06:00:00Z")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.c.NextOpen(c.at)
			if !got.Equal(c.want) {
				t.Fatalf("NextOpen(%s) = %s, want %s", c.at.Format(time.RFC3339), got.Format(time.RFC3339), c.want.Format(time.RFC3339))
			}
			if !got.IsZero() {
				if ok, r := c.c.InWindow(got); !ok {
					t.Fatalf("not open at NextOpen %s: %s", got.Format(time.RFC3339), r.Message)
				}
			}
		})
	}
}

// TestNextOpenIsFirst checks NextOpen against a minute-by-minute walk over a DST change: no earlier minute is open.
func TestNextOpenIsFirst(t *testing.T) {
	contracts := []Contract{
		{Schedule: "09:00-17:00", Timezone: "Europe/Paris", Days: []string{"mon", "wed"}},
		{Schedule: "22:00-06:00", Timezone: "America/New_York", Days: []string{"sat"}},
		{Schedule: "01:30-02:00", Timezone: "America/New_York"},
		{Schedule: "02:00-03:00", Timezone: "America/New_York", Days: []string{"sun", "mon"}},
		{Schedule: "23:45-00:15", Timezone: "Asia/Kolkata", Days: []string{"tue"}},
	}
	starts := []time.Time{utc(t, "2026-03-07T00:00:00Z"), utc(t, "2026-10-31T00:00:00Z")}
	for _, c := range contracts {
		r := compileRules(c)
		for _, start := range starts {
			for step := time.Duration(0); step < 48*time.Hour; step += 97 * time.Minute {
				from := start.Add(step)
				next := r.nextOpen(from)
				if next.IsZero() {
					t.Fatalf("%+v: NextOpen(%s) is zero", c, from)
				}
				for m := from; m.Before(next); m = m.Add(time.Minute) {
					if ok, _, _ := r.open(m); ok {
						t.Fatalf("%+v: open at %s, before NextOpen(%s) = %s", c, m, from, next)
					}
				}
			}
		}
	}
}
