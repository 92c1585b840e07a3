package tenancy

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
)

// KeyPrefix starts every tenant API key.
const KeyPrefix = "ares_"

const keyAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// NewKeySecret is "ares_" and 40 random alphanumerics (~238 bits).
func NewKeySecret() string {
	var sb strings.Builder
	sb.WriteString(KeyPrefix)
	max := big.NewInt(int64(len(keyAlphabet)))
	for range 40 {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
		sb.WriteByte(keyAlphabet[n.Int64()])
	}
	return sb.String()
}

// HashSecret is how keys and refresh tokens are stored.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// keyDisplayPrefix is the part of a key shown in listings ("ares_a1b2").
func keyDisplayPrefix(secret string) string { return secret[:len(KeyPrefix)+4] }

// sameHash compares in constant time.
func sameHash(a, b []byte) bool { return len(a) == len(b) && subtle.ConstantTimeCompare(a, b) == 1 }

// randomToken is n random bytes, URL-safe base64.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// LoadSecret returns the first non-empty environment variable of envs; else the
// content of file, creating it (0600, random) when missing. Only the path is logged,
// never the secret. A secret shorter than minLen is an error.
func LoadSecret(log *slog.Logger, what, file string, minLen int, envs ...string) (string, error) {
	for _, e := range envs {
		if v := os.Getenv(e); v != "" {
			if len(v) < minLen {
				return "", fmt.Errorf("%s from $%s is %d characters; it needs at least %d", what, e, len(v), minLen)
			}
			log.Info(what+" from environment", "env", e)
			return v, nil
		}
	}
	b, err := os.ReadFile(file)
	if err == nil {
		s := strings.TrimSpace(string(b))
		if st, err := os.Stat(file); err == nil && st.Mode().Perm()&0o077 != 0 {
			return "", fmt.Errorf("%s file %s is readable by others (mode %v): chmod 600 it", what, file, st.Mode().Perm())
		}
		if len(s) < minLen {
			return "", fmt.Errorf("%s file %s holds %d characters; it needs at least %d", what, file, len(s), minLen)
		}
		log.Info(what+" from file", "path", file)
		return s, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	s := randomToken(32)
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	log.Info(what+" generated", "path", file)
	return s, nil
}

// CheckSecret compares a presented secret with the configured one in constant time.
func CheckSecret(presented, want string) bool {
	a, b := sha256.Sum256([]byte(presented)), sha256.Sum256([]byte(want))
	return want != "" && subtle.ConstantTimeCompare(a[:], b[:]) == 1
}
