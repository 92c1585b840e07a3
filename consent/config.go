package consent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// maxConfigBytes caps a config file: a contract is a few hundred bytes.
const maxConfigBytes = 1 << 20

// LoadFile reads a contract from a node config file (ReadConfigFile: JSON, or TOML in the ARES style) on top of
// Default: fields the file does not set keep their defaults. Unknown fields, malformed JSON (reported with line and
// column), values of the wrong JSON type and invalid values are errors that name the file; invalid values are
// *FieldError (see FieldErrors).
func LoadFile(path string) (Contract, error) {
	f, err := ReadConfigFile(path)
	if err != nil {
		return Contract{}, err
	}
	return ParseConfig(f)
}

// ConfigFile is the node's config file (--config), read once and shared by the packages that own its sections: the
// consent contract (top-level fields), providers ("providers", "models") and agents ("agents", "workflows").
// JSON holds the file as JSON: the file itself, or its TOML converted.
type ConfigFile struct {
	Source string // "config file PATH", for errors
	JSON   []byte
	TOML   bool // converted from TOML: JSON positions in errors are not the file's
}

// OtherSections are the config file's top-level keys that other packages read; the contract ignores them. "server"
// and "database" are ARES sections aria takes from flags and DATABASE_URL instead.
var OtherSections = []string{"providers", "models", "agents", "workflows", "server", "database"}

// ReadConfigFile reads a node config file: TOML when it is named *.toml or does not start with '{', else JSON.
func ReadConfigFile(path string) (ConfigFile, error) {
	fh, err := os.Open(path)
	if err != nil {
		return ConfigFile{}, fmt.Errorf("consent: read config file: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxConfigBytes+1))
	if err != nil {
		return ConfigFile{}, fmt.Errorf("consent: read config file %s: %w", path, err)
	}
	if len(data) > maxConfigBytes {
		return ConfigFile{}, fmt.Errorf("consent: config file %s: larger than %d bytes", path, maxConfigBytes)
	}
	f := ConfigFile{Source: "config file " + path, JSON: data}
	trimmed := bytes.TrimSpace(data)
	if strings.HasSuffix(strings.ToLower(path), ".toml") || (len(trimmed) > 0 && trimmed[0] != '{' && !strings.HasSuffix(strings.ToLower(path), ".json")) {
		if f.JSON, err = tomlToJSON(data); err != nil {
			return ConfigFile{}, fmt.Errorf("consent: config file %s (TOML): %w", path, err)
		}
		f.TOML = true
	}
	return f, nil
}

// tomlToJSON converts a TOML document to the equivalent JSON object.
func tomlToJSON(data []byte) ([]byte, error) {
	var doc map[string]any
	if _, err := toml.Decode(string(data), &doc); err != nil {
		return nil, err
	}
	return json.Marshal(doc)
}

// ParseConfig decodes and validates the contract in a config file.
func ParseConfig(f ConfigFile) (Contract, error) { return parseConfig(f.Source, f.JSON) }

// parseConfig decodes and validates a config file's bytes; source names it in errors.
func parseConfig(source string, data []byte) (Contract, error) {
	c := Default()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fileSections{Contract: &c}); err != nil {
		return Contract{}, decodeError(source, data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		line, col := lineCol(data, dec.InputOffset())
		return Contract{}, fmt.Errorf("consent: %s:%d:%d: data after the JSON object", source, line, col)
	}
	if err := c.Validate(); err != nil {
		return Contract{}, withSource(source, err)
	}
	// Valid, so Normalize only puts lists and the schedule in canonical form (and reads "" as UTC): no zero is
	// left for it to replace silently.
	return c.Normalize(), nil
}

// fileSections is the config file as the contract reads it: its fields, and the other packages' sections skipped
// (kept in step with OtherSections by TestOtherSectionsAreSkipped).
type fileSections struct {
	*Contract
	Providers json.RawMessage `json:"providers"`
	Models    json.RawMessage `json:"models"`
	Agents    json.RawMessage `json:"agents"`
	Workflows json.RawMessage `json:"workflows"`
	Server    json.RawMessage `json:"server"`
	Database  json.RawMessage `json:"database"`
}

// decodeError turns an encoding/json error into one that names the source, the position and, where it can, the
// field and its accepted form.
func decodeError(source string, data []byte, err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return fmt.Errorf("consent: %s: empty; want a JSON object", source)
	case errors.Is(err, io.ErrUnexpectedEOF):
		line, col := lineCol(data, int64(len(data)))
		return fmt.Errorf("consent: %s:%d:%d: unexpected end of JSON", source, line, col)
	case errors.As(err, &syntax):
		line, col := lineCol(data, syntax.Offset-1) // Offset is just past the offending byte
		return fmt.Errorf("consent: %s:%d:%d: %s", source, line, col, strings.TrimPrefix(syntax.Error(), "json: "))
	case errors.As(err, &typ):
		line, col := lineCol(data, typ.Offset)
		if typ.Field == "" {
			return fmt.Errorf("consent: %s:%d:%d: want a JSON object, got %s", source, line, col, typ.Value)
		}
		typ.Field = strings.TrimPrefix(typ.Field, "Contract.") // the embedded contract of fileSections
		field, _, _ := strings.Cut(typ.Field, ".")
		if accepted, ok := acceptedByField[field]; ok {
			return fmt.Errorf("consent: %s:%d:%d: %s: got JSON %s; must be %s", source, line, col, field, typ.Value, accepted)
		}
		return fmt.Errorf("consent: %s:%d:%d: %s: got JSON %s", source, line, col, typ.Field, typ.Value)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		// The decoder has read past the field; its first quoted occurrence is where the owner will look.
		where := ""
		if i := bytes.Index(data, []byte(name)); i >= 0 {
			line, col := lineCol(data, int64(i))
			where = fmt.Sprintf(":%d:%d", line, col)
		}
		return fmt.Errorf("consent: %s%s: unknown field %s (known: %s)", source, where, name, knownFields)
	}
	return fmt.Errorf("consent: %s: %w", source, err)
}

var acceptedByField = map[string]string{
	fieldCPUPercent:    acceptCPUPercent,
	fieldMaxRAMMB:      acceptMaxRAMMB,
	fieldBandwidth:     acceptBandwidth,
	fieldSchedule:      acceptSchedule,
	fieldTimezone:      acceptTimezone,
	fieldDays:          acceptDays,
	fieldTaskTypes:     acceptTaskTypes,
	fieldMaxConcurrent: acceptMaxConcurrent,
	fieldAllowLogging:  acceptBool,
}

var knownFields = strings.Join([]string{fieldCPUPercent, fieldMaxRAMMB, fieldBandwidth, fieldSchedule,
	fieldTimezone, fieldDays, fieldTaskTypes, fieldMaxConcurrent, fieldAllowLogging}, ", ")

// lineCol converts a byte offset into 1-based line and column.
func lineCol(data []byte, offset int64) (line, col int) {
	offset = min(max(offset, 0), int64(len(data)))
	before := data[:offset]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = 1 + len(before) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, col
}

// sourcedError is a FieldError found in a named source (a config file): its message names the source.
type sourcedError struct {
	source string
	fe     *FieldError
}

func (e *sourcedError) Error() string { return "consent: " + e.source + ": " + e.fe.detail() }
func (e *sourcedError) Unwrap() error { return e.fe }

func withSource(source string, err error) error {
	var errs []error
	for _, fe := range FieldErrors(err) {
		errs = append(errs, &sourcedError{source: source, fe: fe})
	}
	return errors.Join(errs...)
}

// Environment variables FromEnv reads, and the field each sets.
const (
	EnvCPUPercent    = "ARIA_CPU_PERCENT"
	EnvMaxRAMMB      = "ARIA_MAX_RAM_MB"
	EnvBandwidth     = "ARIA_MAX_BANDWIDTH_MBPS"
	EnvSchedule      = "ARIA_SCHEDULE"
	EnvTimezone      = "ARIA_TIMEZONE"
	EnvDays          = "ARIA_DAYS"
	EnvTaskTypes     = "ARIA_TASK_TYPES"
	EnvMaxConcurrent = "ARIA_MAX_CONCURRENT"
	EnvAllowLogging  = "ARIA_ALLOW_LOGGING"
)

// FromEnv overrides c with the ARIA_* variables getenv (nil: os.Getenv) returns; an empty variable is unset.
// Lists are comma-separated. Each bad value is a *FieldError whose Field is the variable's name; they are joined.
// Only the variables that are set are validated; on error c is returned unchanged.
func FromEnv(c Contract, getenv func(string) string) (Contract, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	in := c
	c.Days = cloneStrings(c.Days)
	c.TaskTypes = cloneStrings(c.TaskTypes)
	var errs []error
	fail := func(env, value string, fe *FieldError, accepted string) {
		if fe != nil {
			accepted = fe.Accepted
		}
		errs = append(errs, &FieldError{Field: env, Value: value, Accepted: accepted})
	}
	lookup := func(env string) (string, bool) {
		v := strings.TrimSpace(getenv(env))
		return v, v != ""
	}
	if v, ok := lookup(EnvCPUPercent); ok {
		if n, err := strconv.Atoi(v); err != nil {
			fail(EnvCPUPercent, v, nil, acceptCPUPercent)
		} else if fe := checkCPUPercent(n); fe != nil {
			fail(EnvCPUPercent, v, fe, "")
		} else {
			c.CPUPercent = n
		}
	}
	if v, ok := lookup(EnvMaxRAMMB); ok {
		if n, err := strconv.Atoi(v); err != nil {
			fail(EnvMaxRAMMB, v, nil, acceptMaxRAMMB)
		} else if fe := checkMaxRAMMB(n); fe != nil {
			fail(EnvMaxRAMMB, v, fe, "")
		} else {
			c.MaxRAMMB = n
		}
	}
	if v, ok := lookup(EnvBandwidth); ok {
		if f, err := strconv.ParseFloat(v, 64); err != nil {
			fail(EnvBandwidth, v, nil, acceptBandwidth)
		} else if fe := checkBandwidth(f); fe != nil {
			fail(EnvBandwidth, v, fe, "")
		} else {
			c.MaxBandwidthMbps = f
		}
	}
	if v, ok := lookup(EnvSchedule); ok {
		if fe := checkSchedule(v); fe != nil {
			fail(EnvSchedule, v, fe, "")
		} else {
			w, _, _ := parseSchedule(v)
			c.Schedule = w.String()
		}
	}
	if v, ok := lookup(EnvTimezone); ok {
		if fe := checkTimezone(v); fe != nil {
			fail(EnvTimezone, v, fe, "")
		} else {
			c.Timezone = v
		}
	}
	if v, ok := lookup(EnvDays); ok {
		if days, err := ParseDays(v); err != nil {
			for _, fe := range FieldErrors(err) {
				fail(EnvDays, fe.Value, fe, "")
			}
		} else {
			c.Days = days
		}
	}
	if v, ok := lookup(EnvTaskTypes); ok {
		if types, err := ParseTaskTypes(v); err != nil {
			for _, fe := range FieldErrors(err) {
				fail(EnvTaskTypes, fe.Value, fe, "")
			}
		} else {
			c.TaskTypes = types
		}
	}
	if v, ok := lookup(EnvMaxConcurrent); ok {
		if n, err := strconv.Atoi(v); err != nil {
			fail(EnvMaxConcurrent, v, nil, acceptMaxConcurrent)
		} else if fe := checkMaxConcurrent(n); fe != nil {
			fail(EnvMaxConcurrent, v, fe, "")
		} else {
			c.MaxConcurrentTasks = n
		}
	}
	if v, ok := lookup(EnvAllowLogging); ok {
		if b, err := parseBool(v); err != nil {
			fail(EnvAllowLogging, v, nil, acceptBool)
		} else {
			c.AllowLogging = b
		}
	}
	if len(errs) > 0 {
		return in, errors.Join(errs...)
	}
	return c, nil
}

// parseBool is strconv.ParseBool plus yes/no and on/off, as owners write them in env files.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "yes", "on":
		return true, nil
	case "no", "off":
		return false, nil
	}
	return strconv.ParseBool(s)
}
