package peerproto

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

const testWait = 5 * time.Second

// fakeHandler answers with fixed chunks unless infer is set, and records the
// origin of every request.
type fakeHandler struct {
	chunks []string
	infer  func(ctx context.Context, req InferenceRequest, from Origin, onText func(string) error) (InferenceResponse, error)

	mu      sync.Mutex
	origins []Origin
	reqs    []InferenceRequest
}

func (h *fakeHandler) Infer(ctx context.Context, req InferenceRequest, from Origin, onText func(string) error) (InferenceResponse, error) {
	h.mu.Lock()
	h.origins = append(h.origins, from)
	h.reqs = append(h.reqs, req)
	h.mu.Unlock()
	if h.infer != nil {
		return h.infer(ctx, req, from, onText)
	}
	chunks := h.chunks
	if chunks == nil {
		chunks = []string{"Hel", "lo"}
	}
	if onText != nil {
		for _, c := range chunks {
			if err := onText(c); err != nil {
				return InferenceResponse{}, err
			}
		}
	}
	return InferenceResponse{
		Output:       strings.Join(chunks, ""),
		ModelID:      req.ModelID,
		FinishReason: "stop",
		Usage:        Usage{PromptTokens: 3, CompletionTokens: len(chunks), TotalTokens: 3 + len(chunks)},
	}, nil
}

func (h *fakeHandler) Stats(context.Context) any {
	return map[string]any{"requests": 7, "models": []string{"tiny"}}
}

func (h *fakeHandler) Peers(context.Context) any {
	return []map[string]string{{"peer_id": "12D3KooWexample", "url": "ws://10.0.0.2:8765"}}
}

func (h *fakeHandler) lastOrigin(t *testing.T) Origin {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.origins) == 0 {
		t.Fatal("handler saw no request")
	}
	return h.origins[len(h.origins)-1]
}

// killListener records accepted connections so a test can simulate the server
// process dying: listener and every socket closed at once.
type killListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *killListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *killListener) kill() {
	_ = l.Listener.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		_ = c.Close()
	}
}

type testServer struct {
	srv    *Server
	url    string
	ln     *killListener
	served chan error
}

// startServer serves on a fresh 127.0.0.1 port and shuts down at cleanup.
func startServer(t *testing.T, cfg ServerConfig) *testServer {
	t.Helper()
	if cfg.Key == nil {
		cfg.Key = newKey(t)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ts := &testServer{
		srv:    NewServer(cfg),
		url:    "ws://" + ln.Addr().String(),
		ln:     &killListener{Listener: ln},
		served: make(chan error, 1),
	}
	go func() { ts.served <- ts.srv.Serve(ts.ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testWait)
		defer cancel()
		_ = ts.srv.Shutdown(ctx)
		select {
		case <-ts.served:
		case <-time.After(testWait):
			t.Error("Serve did not return after Shutdown")
		}
	})
	return ts
}

func newKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	return k
}

func peerIDOf(t testing.TB, k crypto.PrivKey) string {
	t.Helper()
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatalf("peer id: %v", err)
	}
	return id.String()
}

func dial(t *testing.T, url string, opts DialOptions) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	c, err := Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// rawConn is a plain gorilla client, as a browser or the spec's JS would be.
type rawConn struct {
	t       *testing.T
	ws      *websocket.Conn
	welcome Welcome
}

func rawDial(t *testing.T, url string) *rawConn {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	t.Cleanup(func() { _ = ws.Close() })
	rc := &rawConn{t: t, ws: ws}
	env := rc.read()
	if env.Type != TypeWelcome {
		t.Fatalf("first frame is %q, want welcome", env.Type)
	}
	if err := json.Unmarshal(env.Data, &rc.welcome); err != nil {
		t.Fatalf("welcome data: %v", err)
	}
	return rc
}

func (rc *rawConn) sendText(s string) {
	rc.t.Helper()
	if err := rc.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

func (rc *rawConn) sendJSON(v any) {
	rc.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		rc.t.Fatalf("marshal: %v", err)
	}
	rc.sendText(string(b))
}

func (rc *rawConn) readErr() (Envelope, error) {
	_ = rc.ws.SetReadDeadline(time.Now().Add(testWait))
	mt, b, err := rc.ws.ReadMessage()
	if err != nil {
		return Envelope{}, err
	}
	if mt != websocket.TextMessage {
		return Envelope{}, errors.New("server sent a binary frame")
	}
	return DecodeEnvelope(b)
}

func (rc *rawConn) read() Envelope {
	rc.t.Helper()
	env, err := rc.readErr()
	if err != nil {
		rc.t.Fatalf("read: %v", err)
	}
	if env.Protocol != Protocol {
		rc.t.Fatalf("frame protocol %q, want %q", env.Protocol, Protocol)
	}
	return env
}

// expectError reads one frame and checks it is an error with code for id.
func (rc *rawConn) expectError(id, code string) Error {
	rc.t.Helper()
	env := rc.read()
	if env.Type != TypeError {
		rc.t.Fatalf("got %s %s, want error %s", env.Type, env.Data, code)
	}
	var e Error
	if err := json.Unmarshal(env.Data, &e); err != nil {
		rc.t.Fatalf("error data: %v", err)
	}
	if e.Code != code || env.RequestID != id {
		rc.t.Fatalf("got error %q for request %q (%s), want %q for %q", e.Code, env.RequestID, e.Message, code, id)
	}
	return e
}

// expectPong proves the connection still works after whatever came before.
func (rc *rawConn) expectPong() {
	rc.t.Helper()
	rc.sendText(`{"type":"ping","request_id":"alive","data":{"n":1}}`)
	env := rc.read()
	if env.Type != TypePong || env.RequestID != "alive" || string(env.Data) != `{"n":1}` {
		rc.t.Fatalf("got %s %q %s, want pong alive {\"n\":1}", env.Type, env.RequestID, env.Data)
	}
}

// hello signs like a client would, with separately chosen parts so tests can
// break one at a time.
func helloData(t *testing.T, idKey, pubKey, signKey crypto.PrivKey, serverID string, nonce []byte) Hello {
	t.Helper()
	pub, err := crypto.MarshalPublicKey(pubKey.GetPublic())
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signKey.Sign(HelloPayload(serverID, nonce))
	if err != nil {
		t.Fatal(err)
	}
	return Hello{
		PeerID:    peerIDOf(t, idKey),
		Signature: base64.StdEncoding.EncodeToString(sig),
		PublicKey: base64.StdEncoding.EncodeToString(pub),
	}
}

func (rc *rawConn) nonce() []byte {
	rc.t.Helper()
	n, err := base64.StdEncoding.DecodeString(rc.welcome.Nonce)
	if err != nil || len(n) != nonceSize {
		rc.t.Fatalf("welcome nonce %q: %v", rc.welcome.Nonce, err)
	}
	return n
}

func waitFor(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testWait):
		t.Fatalf("timed out waiting for %s", what)
	}
}
