package tenancy

import (
	"testing"
	"time"
)

// FuzzVerifyJWT: any bytes as a bearer token are refused or verified, never a panic,
// and only a token signed with the secret verifies.
func FuzzVerifyJWT(f *testing.F) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	claims := Claims{Subject: "usr_1", Expires: now.Add(time.Hour).Unix(), Type: "access"}
	good := SignJWT(secret, claims)
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c3JfMSJ9.")
	f.Add("a.b.c")
	f.Add("...")
	f.Fuzz(func(t *testing.T, tok string) {
		// Only the one token the secret signed may verify (in any encoding of its bytes).
		if c, err := VerifyJWT(secret, tok, now); err == nil && c != claims {
			t.Fatalf("verified claims %+v the secret never signed: %q", c, tok)
		}
	})
}
