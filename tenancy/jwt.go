package tenancy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// AccessTTL is an access token's lifetime; RefreshTTL a refresh token's.
const (
	AccessTTL  = 15 * time.Minute
	RefreshTTL = 30 * 24 * time.Hour
)

// Claims are what an access token carries.
type Claims struct {
	Subject  string `json:"sub"` // user ID
	TenantID string `json:"tid"`
	IssuedAt int64  `json:"iat"`
	Expires  int64  `json:"exp"`
	Type     string `json:"typ"` // "access"
}

var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// SignJWT makes an HS256 token.
func SignJWT(secret []byte, c Claims) string {
	body, _ := json.Marshal(c)
	signing := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(body)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// VerifyJWT accepts only HS256 tokens signed with secret that have not expired at now;
// "alg":"none", other algorithms and forged signatures are ErrInvalidToken.
func VerifyJWT(secret []byte, token string, now time.Time) (Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || len(token) > 4096 {
		return Claims{}, ErrInvalidToken
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return Claims{}, ErrInvalidToken
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(hb, &h) != nil || h.Alg != "HS256" {
		return Claims{}, ErrInvalidToken
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return Claims{}, ErrInvalidToken
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(sig, m.Sum(nil)) {
		return Claims{}, ErrInvalidToken
	}
	cb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return Claims{}, ErrInvalidToken
	}
	var c Claims
	if json.Unmarshal(cb, &c) != nil || c.Type != "access" || c.Subject == "" || now.Unix() >= c.Expires {
		return Claims{}, ErrInvalidToken
	}
	return c, nil
}
