package ares

import "testing"

// The model store changes what the node runs: with auth on a tenant key is not enough,
// the admin secret is; in open mode the loopback owner uses it unmetered.
func TestModelStoreTakesTheAdminSecret(t *testing.T) {
	auth := newEnv(t, envOpts{})
	_, key := auth.tenant("a", "pro")
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/model-store", ""}, {"POST", "/v1/model-store/pull", `{"model":"x"}`}, {"DELETE", "/v1/model-store/m", ""},
	} {
		r := auth.withKey(key, c.method, c.path, c.body)
		want(t, r, 401)
		if code := r.json(t)["code"]; code != "ADMIN_MISSING" {
			t.Fatalf("%s %s with a tenant key: %s", c.method, c.path, r.body)
		}
		if r := auth.req(c.method, c.path, c.body, "X-Admin-Secret", "wrong-secret-00000000"); r.status != 401 {
			t.Fatalf("%s %s with a wrong secret: %d", c.method, c.path, r.status)
		}
		// The admin reaches the handler (this server's backend has no store: 503).
		want(t, auth.admin(c.method, c.path, c.body), 503)
	}
	open := newEnv(t, envOpts{open: true})
	want(t, open.req("GET", "/v1/model-store", ""), 503)
	if r := open.req("GET", "/v1/model-store", ""); r.header.Get("X-RateLimit-Limit") != "" {
		t.Fatal("the model store is metered")
	}
}
