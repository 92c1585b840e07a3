// Package consent owns the node owner's consent contract: type, validation, schedule maths, task classification and
// admission (concurrency, schedule, task types, CPU cap, bandwidth). Never blocks forever; imports no aria package.
//
// Admission governs work that arrives from peers and remote clients; the owner's own local requests bypass it.
// Admit never waits: it answers at once with a release func or a *Refusal whose Code says why. Only the bandwidth
// Limiter waits, and only until its context ends.
//
// # Sources and precedence
//
// A contract starts from Default, then a JSON config file (LoadFile), then ARIA_* environment variables (FromEnv),
// then command-line flags. Fields missing from the file keep their defaults; unknown fields are an error. Example:
//
//	{
//	  "cpu_percent": 25,
//	  "max_ram_mb": 2048,
//	  "max_bandwidth_mbps": 10,
//	  "schedule": "22:00-06:00",
//	  "timezone": "Europe/Paris",
//	  "days": ["mon", "tue", "wed", "thu", "fri"],
//	  "task_types": ["text_gen", "summarization"],
//	  "max_concurrent_tasks": 2,
//	  "allow_logging": false
//	}
//
// # Schedule
//
// A schedule "HH:MM-HH:MM" is read on the wall clock of the contract's time zone: start inclusive, end exclusive.
// A window that crosses midnight ("22:00-06:00") belongs to the day it starts on, so with days [fri] it covers
// Friday 22:00 to Saturday 06:00. On DST days the wall clock rules: a window inside the skipped hour does not open
// that day, a window inside the repeated hour is open during both passes, and a window spanning the change is an
// hour shorter or longer.
package consent

// The binary must resolve IANA names on machines without a zoneinfo database.
import _ "time/tzdata"
