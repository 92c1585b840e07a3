package tenancy

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestKeySecret(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		k := NewKeySecret()
		if !strings.HasPrefix(k, "ares_") || len(k) != 45 || seen[k] {
			t.Fatalf("key %q", k)
		}
		seen[k] = true
	}
	if !sameHash(HashSecret("a"), HashSecret("a")) || sameHash(HashSecret("a"), HashSecret("b")) || sameHash(nil, HashSecret("a")) {
		t.Fatal("hash comparison")
	}
}

func TestParseTier(t *testing.T) {
	for _, s := range []string{"free", "dev", "pro", "enterprise"} {
		if _, err := ParseTier(s); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []string{"", "Free", "gold", "pro "} {
		if _, err := ParseTier(s); err == nil {
			t.Fatalf("tier %q accepted", s)
		}
	}
	if l := TierEnterprise.Limits(); l.DailyRequests != Unlimited {
		t.Fatalf("enterprise %+v", l)
	}
	if l := TierDev.Limits(); l != (Limits{10_000, 1_000_000, 1_000}) {
		t.Fatalf("dev %+v", l)
	}
}

func TestWindows(t *testing.T) {
	at := time.Date(2026, 12, 31, 23, 59, 59, 0, time.FixedZone("x", 3600)) // 22:59:59 UTC
	if Day(at) != "2026-12-31" || Month(at) != "2026-12" {
		t.Fatal(Day(at), Month(at))
	}
	if !NextDay(at).Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) || !NextMonth(at).Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatal(NextDay(at), NextMonth(at))
	}
}

func TestJWT(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	c := Claims{Subject: "usr_1", TenantID: "t", IssuedAt: now.Unix(), Expires: now.Add(AccessTTL).Unix(), Type: "access"}
	tok := SignJWT(secret, c)
	got, err := VerifyJWT(secret, tok, now.Add(time.Minute))
	if err != nil || got != c {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := VerifyJWT(secret, tok, now.Add(AccessTTL)); err == nil {
		t.Fatal("expired token accepted")
	}
	if _, err := VerifyJWT([]byte("another secret of 32 characters!"), tok, now); err == nil {
		t.Fatal("token of another secret accepted")
	}
	parts := strings.Split(tok, ".")
	for _, bad := range []string{
		base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".",
		base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS512"}`)) + "." + parts[1] + "." + parts[2],
		parts[0] + "." + parts[1],
		parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"usr_2","exp":9999999999,"typ":"access"}`)) + "." + parts[2],
		"", "...", tok + "A",
	} {
		if _, err := VerifyJWT(secret, bad, now); err == nil {
			t.Fatalf("accepted %q", bad)
		}
	}
	r := SignJWT(secret, Claims{Subject: "usr_1", Expires: now.Add(time.Hour).Unix(), Type: "refresh"})
	if _, err := VerifyJWT(secret, r, now); err == nil {
		t.Fatal("non-access token accepted")
	}
}

func TestLoadSecret(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	path := filepath.Join(dir, "admin.secret")
	t.Setenv("ARIA_TEST_SECRET", "")
	s, err := LoadSecret(log, "admin secret", path, 16, "ARIA_TEST_SECRET")
	if err != nil || len(s) < 32 {
		t.Fatalf("%q %v", s, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", st.Mode(), err)
	}
	again, err := LoadSecret(log, "admin secret", path, 16, "ARIA_TEST_SECRET")
	if err != nil || again != s {
		t.Fatalf("reload %q %v", again, err)
	}
	t.Setenv("ARIA_TEST_SECRET", "from-the-environment-1234")
	env, err := LoadSecret(log, "admin secret", path, 16, "ARIA_TEST_SECRET")
	if err != nil || env != "from-the-environment-1234" {
		t.Fatalf("env %q %v", env, err)
	}
	if strings.Contains(logs.String(), s) || strings.Contains(logs.String(), env) || !strings.Contains(logs.String(), path) {
		t.Fatalf("logs: %s", logs.String())
	}
	t.Setenv("ARIA_TEST_SECRET", "short")
	if _, err := LoadSecret(log, "admin secret", path, 16, "ARIA_TEST_SECRET"); err == nil {
		t.Fatal("short secret accepted")
	}
	t.Setenv("ARIA_TEST_SECRET", "")
	os.Chmod(path, 0o644)
	if _, err := LoadSecret(log, "admin secret", path, 16, "ARIA_TEST_SECRET"); err == nil {
		t.Fatal("world-readable secret file accepted")
	}
	if !CheckSecret("abc", "abc") || CheckSecret("abc", "abd") || CheckSecret("", "") {
		t.Fatal("CheckSecret")
	}
}
