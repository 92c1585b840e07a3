package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aria-node/aria/consent"
	"github.com/aria-node/aria/energy"
	"github.com/aria-node/aria/gateway"
	"github.com/aria-node/aria/inference/local"
	"github.com/aria-node/aria/internal/testhttp"
	"github.com/aria-node/aria/node"
	"github.com/aria-node/aria/openai"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startNode starts a real node (node.New) serving the tiny synthetic model on a
// loopback WebSocket port, without its own HTTP API, whose consent contract takes
// maxRemote remote tasks at a time. It returns the node and its data dir.
func startNode(t *testing.T, maxRemote int) (*node.Node, string) {
	t.Helper()
	dir := t.TempDir()
	ct := consent.Default()
	ct.CPUPercent, ct.MaxConcurrentTasks = 100, maxRemote
	n := node.New(node.Config{
		DataDir: dir, APIPort: -1, Progress: io.Discard,
		Engine:      local.Options{Threads: 1, Slots: 2},
		EnergyMeter: energy.MeterOptions{Method: energy.MethodCPUTime},
		Logger:      quiet,
		Consent:     &ct,
		Peers:       node.PeerConfig{Host: "127.0.0.1", RandomPort: true, ListenP2P: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true},
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return n, dir
}

// serve starts a real gateway to n and its HTTP API on a loopback port; it returns the
// API's base URL.
func serve(t *testing.T, n *node.Node, gcfg gateway.Config, platform func(http.Handler) http.Handler) string {
	t.Helper()
	gcfg.URL, gcfg.Refresh, gcfg.Logger = n.NodeURI(), time.Hour, quiet
	gw := gateway.New(t.Context(), gcfg)
	t.Cleanup(gw.Close)
	if !gw.Reachable() {
		t.Fatalf("gateway cannot reach the node at %s", n.NodeURI())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := gw.Server(openai.Config{Version: node.Version, Logger: quiet, Platform: platform,
		Access: openai.Access{BindHost: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port}})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("gateway API shutdown: %v", err)
		}
		<-done
	})
	return "http://" + ln.Addr().String()
}

// do sends one request with a bounded time and returns its status and body.
func do(t *testing.T, method, url, body string, header ...string) (int, string) {
	t.Helper()
	code, b, _ := doH(t, method, url, body, header...)
	return code, b
}

// doH is do that also returns the response's header.
func doH(t *testing.T, method, url, body string, header ...string) (int, string, http.Header) {
	t.Helper()
	code, b, h := testhttp.Do(t, method, url, body, header...)
	return code, string(b), h
}

const chat = `{"model":"aria-tiny-1bit","messages":[{"role":"user","content":"hi"}],"max_tokens":2}`

// Defect 3: `aria api start` dialled without proof, so the node took every gateway
// request as its owner's, whoever the gateway's client was. The node's contract takes
// one remote task and that one is held: remote work is refused, the owner's served.
func TestGatewayIsNotTheOwnerUnlessToldSo(t *testing.T) {
	n, dataDir := startNode(t, 1)
	turn, err := n.BeginChat(t.Context(), openai.ChatInfo{Model: "aria-tiny-1bit", Remote: true, UserMessages: []string{"hold"}})
	if err != nil {
		t.Fatal(err)
	}
	defer turn.End(true)
	refused := func(code int, body string) bool {
		return code == http.StatusServiceUnavailable && strings.Contains(body, "max_concurrent")
	}

	plain := serve(t, n, gateway.Config{}, nil)
	code, body, h := doH(t, "POST", plain+"/v1/chat/completions", chat)
	if !refused(code, body) {
		t.Fatalf("gateway without --owner, loopback client: %d %s, want a max_concurrent refusal", code, body)
	}
	if ra := h.Get("Retry-After"); ra != "1" { // the node's refusal, carried: a full node says retry in 1 s
		t.Fatalf("refusal through the gateway: Retry-After %q, want 1", ra)
	}

	tok, err := node.ReadOwnerToken(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	owner := serve(t, n, gateway.Config{OwnerToken: tok}, nil)
	if code, body := do(t, "POST", owner+"/v1/chat/completions", chat); code != http.StatusOK {
		t.Fatalf("owner's gateway, loopback client: %d %s", code, body)
	}
	if code, body := do(t, "POST", owner+"/v1/chat/completions", chat, "X-Aria-Origin", "remote"); !refused(code, body) {
		t.Fatalf("owner's gateway, client marked remote: %d %s, want a refusal", code, body)
	}
}

// A stand-alone gateway's platform keeps its own database and secrets in its data dir
// (0600); bound to all interfaces it requires keys, and a tenant key reaches the node.
func TestGatewayPlatform(t *testing.T) {
	t.Setenv("ARIA_ADMIN_SECRET", "")
	t.Setenv("API_KEY", "")
	t.Setenv("ARIA_JWT_SECRET", "")
	t.Setenv("JWT_SECRET", "")
	n, _ := startNode(t, 4)
	dir := t.TempDir()
	p, err := node.StartPlatform(t.Context(), node.PlatformConfig{}, dir, "0.0.0.0", nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, f := range []string{node.GatewayDBFile, "admin.secret", "jwt.secret"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, st, err)
		}
	}
	base := serve(t, n, gateway.Config{}, p.Access)
	if code, body := do(t, "GET", base+"/v1/models", ""); code != http.StatusUnauthorized {
		t.Fatalf("no key on a public gateway: %d %s", code, body)
	}
	secret, err := os.ReadFile(filepath.Join(dir, "admin.secret"))
	if err != nil {
		t.Fatal(err)
	}
	admin := strings.TrimSpace(string(secret))
	if code, body := do(t, "GET", base+"/api/admin/stats", "", "X-Admin-Secret", admin); code != http.StatusOK {
		t.Fatalf("admin stats: %d %s", code, body)
	}
	code, body := do(t, "POST", base+"/api/admin/provision-client", `{"name":"acme","tier":"pro","product_type":"kasino","api_key_name":"main"}`, "X-Admin-Secret", admin)
	var prov struct {
		Key string `json:"raw_api_key"`
	}
	if err := json.Unmarshal([]byte(body), &prov); code != http.StatusCreated && code != http.StatusOK || err != nil || prov.Key == "" {
		t.Fatalf("provision a tenant: %d %s (%v)", code, body, err)
	}
	code, body = do(t, "GET", base+"/v1/models", "", "Authorization", "Bearer "+prov.Key)
	if code != http.StatusOK || !strings.Contains(body, `"aria-tiny-1bit"`) {
		t.Fatalf("tenant key on the gateway: %d %s, want the node's models", code, body)
	}
}
