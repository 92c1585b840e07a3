package peerproto

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Origin says who sent a request.
type Origin struct {
	// PeerID is the verified libp2p peer ID of a peer link, "" for a plain client.
	PeerID     string
	RemoteAddr string
	// OwnerToken is what the client presented in the HeaderOwnerToken header of its
	// WebSocket upgrade ("" when none). The Handler decides what it proves.
	OwnerToken string
}

// HeaderOwnerToken carries a node's owner token on a WebSocket upgrade: a client on
// the node's machine that can read the token file presents it to be the owner.
const HeaderOwnerToken = "X-Aria-Owner-Token"

// ChunkHandler is a Handler that streams whole chunks (with token log-probabilities
// when asked for); the server prefers it for streamed requests.
type ChunkHandler interface {
	InferChunks(ctx context.Context, req InferenceRequest, from Origin, onChunk func(Chunk) error) (InferenceResponse, error)
}

// Handler does the node's work for the server. Every method gets a ctx that ends
// when the request is cancelled, its connection closes or the server shuts
// down; implementations must return soon after.
type Handler interface {
	// Infer runs one request. onText is nil unless the client asked to stream;
	// an error from onText means the chunk cannot be delivered: stop. Return an
	// *Error to choose the error code the client sees; other errors are
	// reported as "internal" without their text.
	Infer(ctx context.Context, req InferenceRequest, from Origin, onText func(text string) error) (InferenceResponse, error)
	// Stats is sent as the data of stats; it must marshal to a JSON object.
	Stats(ctx context.Context) any
	// Peers is sent as data.peers of peers_list; it should marshal to an array.
	Peers(ctx context.Context) any
}

// ServerConfig configures a Server. Zero values take the documented defaults.
type ServerConfig struct {
	Handler Handler
	// Key is the server's identity: its peer ID goes into welcome and every
	// envelope's sender_id. nil: an ephemeral ed25519 key (logged as a warning).
	Key     crypto.PrivKey
	Version string
	// MaxFrameBytes caps one incoming frame (default 1 MiB).
	MaxFrameBytes int64
	// ReadTimeout closes a connection that sent nothing for this long (default
	// 60s). Any frame, including WebSocket pings and app-level pings, counts.
	ReadTimeout time.Duration
	// MaxInFlight caps concurrent inference requests per connection (default 4);
	// beyond it the request gets too_many_requests. get_stats/get_peers have a
	// separate cap of the same size.
	MaxInFlight int
	// MaxConns caps the connections held at once (default 256) and MaxConnsPerIP
	// those from one address (default 64); more are closed at accept. The node
	// keeps MaxConns under a quarter of its file-descriptor limit, so the peer port
	// cannot starve the HTTP API or the database of descriptors.
	MaxConns      int
	MaxConnsPerIP int
	// IdleTimeout closes a connection that has had no request in flight and sent
	// no request for this long (default 2 min). Pings keep a connection alive
	// against ReadTimeout (a dead peer), not against IdleTimeout.
	IdleTimeout time.Duration
	// MaxClientInFlight caps inference requests in flight over all connections
	// that did not prove a peer ID (default 4): unauthenticated clients share it.
	MaxClientInFlight int
	Logger            *slog.Logger
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = http.ErrServerClosed

var (
	errCancelRequested = errors.New("cancelled by the client")
	errShutdown        = errors.New("server shutting down")
	errConnClosed      = errors.New("connection closed")
)

// Server accepts WebSocket connections and answers protocol messages through
// its Handler.
type Server struct {
	cfg      ServerConfig
	peerID   string
	log      *slog.Logger
	upgrader websocket.Upgrader
	seq      atomic.Uint64

	clientInfers atomic.Int64 // inference requests in flight from unauthenticated connections

	mu       sync.Mutex
	shutdown bool
	https    map[*http.Server]struct{}
	conns    map[*serverConn]struct{}
	caps     []*capListener
}

// NewServer returns a Server; it panics without a Handler.
func NewServer(cfg ServerConfig) *Server {
	if cfg.Handler == nil {
		panic("peerproto: NewServer needs a Handler")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxFrameBytes <= 0 {
		cfg.MaxFrameBytes = defaultMaxFrameBytes
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = defaultReadTimeout
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 4
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = defaultMaxConns
	}
	if cfg.MaxConnsPerIP <= 0 {
		cfg.MaxConnsPerIP = defaultMaxConnsPerIP
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = defaultIdleTimeout
	}
	if cfg.MaxClientInFlight <= 0 {
		cfg.MaxClientInFlight = defaultMaxClientInFlight
	}
	if cfg.Key == nil {
		k, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			panic(fmt.Sprintf("peerproto: generate ephemeral key: %v", err))
		}
		cfg.Key = k
		cfg.Logger.Warn("peerproto: no server key configured, using an ephemeral identity")
	}
	id, err := peer.IDFromPrivateKey(cfg.Key)
	if err != nil {
		panic(fmt.Sprintf("peerproto: server key: %v", err))
	}
	return &Server{
		cfg:    cfg,
		peerID: id.String(),
		log:    cfg.Logger,
		upgrader: websocket.Upgrader{
			HandshakeTimeout: writeWait,
			// Browsers run the spec's JS example from any page.
			CheckOrigin: func(*http.Request) bool { return true },
		},
		https: make(map[*http.Server]struct{}),
		conns: make(map[*serverConn]struct{}),
	}
}

// PeerID is the server's peer ID as sent in welcome.
func (s *Server) PeerID() string { return s.peerID }

// Serve accepts connections on ln until Shutdown; it then returns ErrServerClosed.
// Connections over MaxConns or MaxConnsPerIP are closed at accept.
func (s *Server) Serve(ln net.Listener) error {
	capped := newCapListener(ln, s.cfg.MaxConns, s.cfg.MaxConnsPerIP, func(remote string) {
		s.log.Warn("peerproto: connection refused at the cap", "remote", remote, "max_conns", s.cfg.MaxConns, "max_conns_per_ip", s.cfg.MaxConnsPerIP)
	})
	ln = capped
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: writeWait,
		IdleTimeout:       s.cfg.ReadTimeout, // plain-HTTP keep-alives (426 replies)
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrServerClosed
	}
	s.https[hs] = struct{}{}
	s.caps = append(s.caps, capped)
	s.mu.Unlock()
	err := hs.Serve(ln)
	s.mu.Lock()
	delete(s.https, hs)
	s.mu.Unlock()
	return err
}

// ConnStats counts the connections held by Serve's listeners and those refused at
// the caps so far.
func (s *Server) ConnStats() (open int, refused uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.caps {
		open += l.count()
		refused += l.refused.Load()
	}
	return open, refused
}

// ServeHTTP upgrades the request to a WebSocket (any path, any Origin) and
// serves the connection until it closes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "ARIA peer protocol ("+Protocol+"): connect with a WebSocket", http.StatusUpgradeRequired)
		return
	}
	s.mu.Lock()
	down := s.shutdown
	s.mu.Unlock()
	if down {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.log.Debug("peerproto: upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	c := s.newConn(ws, r.RemoteAddr)
	c.ownerToken = r.Header.Get(HeaderOwnerToken)
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "shutting down"), time.Now().Add(writeWait))
		_ = ws.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	c.serve()
}

// Shutdown stops accepting, lets in-flight requests finish until ctx ends, then
// cancels what is left (those get shutting_down) and closes every connection
// with a close frame (1001). It returns ctx's error if requests had to be cut.
// Listeners given to Serve are closed; an http.Server that mounts ServeHTTP
// itself is its owner's to stop.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	servers := make([]*http.Server, 0, len(s.https))
	for hs := range s.https {
		servers = append(servers, hs)
	}
	conns := make([]*serverConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	for _, hs := range servers {
		_ = hs.Close() // listeners only: upgraded connections are ours
	}
	for _, c := range conns {
		c.startDrain()
	}
	var err error
	if !waitAll(ctx.Done(), conns, func(c *serverConn) <-chan struct{} { return c.idle }) {
		err = ctx.Err()
		for _, c := range conns {
			c.cancelAll(errShutdown)
		}
		// Give cancelled handlers a moment to return so their shutting_down
		// errors go out before the close frame.
		grace, cancel := context.WithTimeout(context.Background(), closeGrace)
		waitAll(grace.Done(), conns, func(c *serverConn) <-chan struct{} { return c.idle })
		cancel()
	}
	for _, c := range conns {
		c.link.beginClose(websocket.CloseGoingAway, "shutting down")
	}
	closed, cancel := context.WithTimeout(context.Background(), closeGrace+writeWait)
	defer cancel()
	if !waitAll(closed.Done(), conns, func(c *serverConn) <-chan struct{} { return c.done }) {
		for _, c := range conns {
			_ = c.link.ws.Close()
		}
	}
	return err
}

func waitAll(stop <-chan struct{}, conns []*serverConn, ch func(*serverConn) <-chan struct{}) bool {
	for _, c := range conns {
		select {
		case <-ch(c):
		case <-stop:
			return false
		}
	}
	return true
}

// serverConn is one accepted connection: the read loop runs in serve (the HTTP
// handler's goroutine), the writer in link.runWriter, and each request in its
// own goroutine whose ctx derives from ctx.
type serverConn struct {
	srv    *Server
	link   *link
	remote string
	nonce  []byte
	// ownerToken is what the upgrade request presented (set before serve starts).
	ownerToken string
	log        *slog.Logger
	ctx        context.Context
	cancel     context.CancelCauseFunc
	done       chan struct{} // serve returned
	reqWG      sync.WaitGroup

	lastWork atomic.Int64 // unix nanos of the last request frame or request end

	mu         sync.Mutex
	peerID     string // verified by hello
	reqs       map[string]*serverReq
	infers     int
	ctrls      int
	draining   bool
	idle       chan struct{} // closed once draining with no request left
	idleClosed bool
}

type serverReq struct {
	cancel context.CancelCauseFunc
	infer  bool
	client bool // counted in the server's clientInfers
}

func (s *Server) newConn(ws *websocket.Conn, remote string) *serverConn {
	nonce := make([]byte, nonceSize)
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails on supported platforms
	c := &serverConn{
		srv:    s,
		remote: remote,
		nonce:  nonce,
		log:    s.log.With("remote", remote),
		done:   make(chan struct{}),
		reqs:   make(map[string]*serverReq),
		idle:   make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	// While a request runs the client may legitimately stay silent; pings keep
	// its read deadline (and ours, via its pongs) alive and detect a dead peer.
	c.link = newLink(ws, s.cfg.MaxFrameBytes, s.cfg.ReadTimeout, s.cfg.ReadTimeout/3, c.busy, c.log)
	return c
}

func (c *serverConn) busy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.reqs) > 0
}

func (c *serverConn) serve() {
	defer close(c.done)
	go c.link.runWriter()
	c.lastWork.Store(time.Now().UnixNano())
	go c.closeWhenIdle()
	c.reply(TypeWelcome, "", Welcome{
		Nonce:    base64.StdEncoding.EncodeToString(c.nonce),
		PeerID:   c.srv.peerID,
		Version:  c.srv.cfg.Version,
		Protocol: Protocol,
	})
	var readErr error
	for {
		mt, b, err := c.link.readFrame()
		if errors.Is(err, errFrameTooLarge) {
			if !c.link.isClosing() {
				c.log.Info("peerproto: frame too large, closing", "limit", c.srv.cfg.MaxFrameBytes)
				c.replyError("", &Error{Code: CodeFrameTooLarge, Message: "frame exceeds " + strconv.FormatInt(c.srv.cfg.MaxFrameBytes, 10) + " bytes"})
				c.link.beginClose(websocket.CloseMessageTooBig, "frame too large")
			}
			continue // the next read discards the rest until the close handshake ends
		}
		if err != nil {
			readErr = err
			break
		}
		if c.link.isClosing() {
			continue
		}
		c.handleFrame(mt, b)
	}
	c.log.Debug("peerproto: connection ended", "err", readErr)
	c.cancel(errConnClosed)
	c.link.teardown(readErr)
	c.reqWG.Wait()
}

// closeWhenIdle closes the connection once it has had no request for IdleTimeout;
// pings (WebSocket or protocol) do not count as requests.
func (c *serverConn) closeWhenIdle() {
	idle := c.srv.cfg.IdleTimeout
	t := time.NewTicker(max(idle/8, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-c.link.closing:
			return
		case <-t.C:
			if c.busy() {
				c.lastWork.Store(time.Now().UnixNano())
				continue
			}
			if time.Since(time.Unix(0, c.lastWork.Load())) >= idle {
				c.log.Debug("peerproto: closing an idle connection", "idle", idle)
				c.link.beginClose(websocket.CloseGoingAway, "idle timeout")
				return
			}
		}
	}
}

// handleFrame dispatches one data frame. It is the read loop's only work, never
// blocks on a Handler, and must survive any input (FuzzServerFrame).
func (c *serverConn) handleFrame(mt int, b []byte) {
	if mt != websocket.TextMessage {
		c.replyError("", &Error{Code: CodeMalformed, Message: "binary frames are not supported: send JSON text frames"})
		return
	}
	env, err := DecodeEnvelope(b)
	if err != nil {
		c.replyError(env.RequestID, &Error{Code: CodeMalformed, Message: err.Error()})
		return
	}
	if env.Type != TypePing && env.Type != TypePong && env.Type != TypeError {
		c.lastWork.Store(time.Now().UnixNano())
	}
	switch env.Type {
	case TypeHello:
		c.handleHello(env)
	case TypeInferenceRequest:
		c.handleInference(env)
	case TypeEmbedRequest:
		c.handleEmbed(env)
	case TypeCancel:
		c.mu.Lock()
		if r, ok := c.reqs[env.RequestID]; ok {
			r.cancel(errCancelRequested)
		}
		c.mu.Unlock()
	case TypeGetStats, TypeGetPeers:
		c.handleControl(env)
	case TypePing:
		c.reply(TypePong, env.RequestID, env.Data)
	case TypeError:
		// Never answer an error with an error: two servers would loop.
		c.log.Debug("peerproto: peer reported an error", "request_id", env.RequestID, "data", truncate(string(env.Data), 200))
	default:
		c.replyError(env.RequestID, &Error{Code: CodeUnknownType, Message: fmt.Sprintf("unknown message type %q", truncate(env.Type, 64))})
	}
}

func (c *serverConn) handleHello(env Envelope) {
	var h Hello
	if env.Data == nil {
		c.replyError(env.RequestID, &Error{Code: CodeUnauthorized, Message: "hello needs data {peer_id, signature, public_key}"})
		return
	}
	if err := json.Unmarshal(env.Data, &h); err != nil {
		c.replyError(env.RequestID, &Error{Code: CodeUnauthorized, Message: "hello data: " + err.Error()})
		return
	}
	c.mu.Lock()
	already := c.peerID
	c.mu.Unlock()
	if already != "" {
		c.replyError(env.RequestID, &Error{Code: CodeInvalidRequest, Message: "connection already authenticated as " + already})
		return
	}
	id, err := verifyHello(h, c.srv.peerID, c.nonce)
	if err != nil {
		c.log.Info("peerproto: hello refused", "claimed", truncate(h.PeerID, 80), "err", err)
		c.replyError(env.RequestID, &Error{Code: CodeUnauthorized, Message: err.Error()})
		return
	}
	c.mu.Lock()
	c.peerID = id.String()
	c.mu.Unlock()
	c.log.Debug("peerproto: peer authenticated", "peer", c.peerID)
	c.reply(TypeHelloAck, env.RequestID, HelloAck{PeerID: id.String()})
}

// decodeRequest decodes and validates a request's data into v (a pointer); when it fails it has replied with
// invalid_request and returns false. Every request type goes through it.
func (c *serverConn) decodeRequest(env Envelope, v interface{ validate() error }) bool {
	if env.Data == nil {
		c.replyError(env.RequestID, &Error{Code: CodeInvalidRequest, Message: env.Type + " needs data"})
		return false
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		c.replyError(env.RequestID, &Error{Code: CodeInvalidRequest, Message: "data: " + err.Error()})
		return false
	}
	if err := v.validate(); err != nil {
		c.replyError(env.RequestID, &Error{Code: CodeInvalidRequest, Message: err.Error()})
		return false
	}
	return true
}

func (c *serverConn) handleInference(env Envelope) {
	var req InferenceRequest
	if !c.decodeRequest(env, &req) {
		return
	}
	c.start(env, true, func(ctx context.Context, id string, from Origin) { c.runInference(ctx, id, req, from) })
}

// start admits env's request (an inference or embedding when infer, else a control request) and runs it on a
// goroutine the connection owns: when run returns, the request's slot is released, and a panic in it is answered
// as an internal error. When admission fails it replies with the reason and runs nothing.
func (c *serverConn) start(env Envelope, infer bool, run func(ctx context.Context, id string, from Origin)) {
	id := c.requestID(env)
	ctx, from, perr := c.admit(id, infer)
	if perr != nil {
		c.replyError(id, perr)
		return
	}
	go func() {
		defer c.release(id)
		defer c.recoverHandler(id)
		run(ctx, id, from)
	}()
}

func (c *serverConn) runInference(ctx context.Context, id string, req InferenceRequest, from Origin) {
	sendChunk := func(ch Chunk) error {
		f, err := newEnvelope(TypeInferenceChunk, id, c.srv.peerID, ch)
		if err != nil {
			return err
		}
		return c.link.send(ctx, f)
	}
	var onText func(string) error
	if req.Stream {
		onText = func(text string) error { return sendChunk(Chunk{Text: text}) }
	}
	var resp InferenceResponse
	var err error
	if th, ok := c.srv.cfg.Handler.(ChunkHandler); ok && req.Stream {
		resp, err = th.InferChunks(ctx, req, from, sendChunk)
	} else {
		resp, err = c.srv.cfg.Handler.Infer(ctx, req, from, onText)
	}
	if err != nil {
		c.replyError(id, c.errorFor(ctx, err))
		return
	}
	if resp.NodeID == "" {
		resp.NodeID = c.srv.peerID
	}
	c.reply(TypeInferenceResponse, id, resp)
}

func (c *serverConn) handleControl(env Envelope) {
	c.start(env, false, func(ctx context.Context, id string, _ Origin) {
		if env.Type == TypeGetStats {
			b, err := json.Marshal(c.srv.cfg.Handler.Stats(ctx))
			if err != nil || (string(b) != "null" && (len(b) == 0 || b[0] != '{')) {
				c.log.Error("peerproto: Handler.Stats is not a JSON object", "err", err)
				c.replyError(id, &Error{Code: CodeInternal, Message: "stats unavailable"})
				return
			}
			if string(b) == "null" {
				b = []byte("{}")
			}
			c.reply(TypeStats, id, json.RawMessage(b))
			return
		}
		b, err := json.Marshal(c.srv.cfg.Handler.Peers(ctx))
		if err != nil {
			c.log.Error("peerproto: Handler.Peers does not marshal", "err", err)
			c.replyError(id, &Error{Code: CodeInternal, Message: "peers unavailable"})
			return
		}
		if string(b) == "null" {
			b = []byte("[]")
		}
		c.reply(TypePeersList, id, struct {
			Peers json.RawMessage `json:"peers"`
		}{b})
	})
}

// requestID is the envelope's request_id, or a fresh one so that a client that
// sent none still gets a reply it can match by type.
func (c *serverConn) requestID(env Envelope) string {
	if env.RequestID != "" {
		return env.RequestID
	}
	return "srv-" + strconv.FormatUint(c.srv.seq.Add(1), 10)
}

// admit registers a request under the per-connection limits and returns its ctx.
func (c *serverConn) admit(id string, infer bool) (context.Context, Origin, *Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.draining {
		return nil, Origin{}, &Error{Code: CodeShuttingDown, Message: "node is shutting down"}
	}
	if _, dup := c.reqs[id]; dup {
		return nil, Origin{}, &Error{Code: CodeInvalidRequest, Message: fmt.Sprintf("request_id %q is already in flight", truncate(id, 64))}
	}
	n := &c.ctrls
	if infer {
		n = &c.infers
	}
	if *n >= c.srv.cfg.MaxInFlight {
		return nil, Origin{}, &Error{Code: CodeTooManyRequests, Message: fmt.Sprintf("at most %d requests in flight per connection", c.srv.cfg.MaxInFlight)}
	}
	client := infer && c.peerID == ""
	if client {
		if c.srv.clientInfers.Add(1) > int64(c.srv.cfg.MaxClientInFlight) {
			c.srv.clientInfers.Add(-1)
			return nil, Origin{}, &Error{Code: CodeTooManyRequests, Message: fmt.Sprintf("at most %d requests in flight from unauthenticated clients; try again later", c.srv.cfg.MaxClientInFlight)}
		}
	}
	*n++
	ctx, cancel := context.WithCancelCause(c.ctx)
	c.reqs[id] = &serverReq{cancel: cancel, infer: infer, client: client}
	c.reqWG.Add(1)
	return ctx, Origin{PeerID: c.peerID, RemoteAddr: c.remote, OwnerToken: c.ownerToken}, nil
}

func (c *serverConn) release(id string) {
	c.mu.Lock()
	if r, ok := c.reqs[id]; ok {
		delete(c.reqs, id)
		r.cancel(nil)
		if r.client {
			c.srv.clientInfers.Add(-1)
		}
		c.lastWork.Store(time.Now().UnixNano())
		if r.infer {
			c.infers--
		} else {
			c.ctrls--
		}
	}
	c.checkIdleLocked()
	c.mu.Unlock()
	c.reqWG.Done()
}

func (c *serverConn) checkIdleLocked() {
	if c.draining && len(c.reqs) == 0 && !c.idleClosed {
		c.idleClosed = true
		close(c.idle)
	}
}

func (c *serverConn) startDrain() {
	c.mu.Lock()
	c.draining = true
	c.checkIdleLocked()
	c.mu.Unlock()
}

func (c *serverConn) cancelAll(cause error) {
	c.mu.Lock()
	for _, r := range c.reqs {
		r.cancel(cause)
	}
	c.mu.Unlock()
}

func (c *serverConn) recoverHandler(id string) {
	if p := recover(); p != nil {
		c.log.Error("peerproto: handler panicked", "request_id", id, "panic", p, "stack", string(debug.Stack()))
		c.replyError(id, &Error{Code: CodeInternal, Message: "internal error"})
	}
}

// errorFor maps a Handler error to the protocol error the client sees.
func (c *serverConn) errorFor(ctx context.Context, err error) *Error {
	// Why the request ended comes first: a handler that maps its ctx's error
	// itself (to "internal", say) must not hide a cancel or a shutdown.
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errCancelRequested):
		return &Error{Code: CodeCancelled, Message: "cancelled by the client"}
	case errors.Is(cause, errShutdown):
		return &Error{Code: CodeShuttingDown, Message: "node is shutting down"}
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	c.log.Warn("peerproto: handler failed", "err", err)
	return &Error{Code: CodeInternal, Message: "internal error"}
}

func (c *serverConn) reply(typ, id string, data any) {
	f, err := newEnvelope(typ, id, c.srv.peerID, data)
	if err != nil {
		c.log.Error("peerproto: cannot encode reply", "type", typ, "err", err)
		f, err = newEnvelope(TypeError, id, c.srv.peerID, &Error{Code: CodeInternal, Message: "reply not encodable"})
		if err != nil {
			return
		}
	}
	if err := c.link.send(c.ctx, f); err != nil {
		c.log.Debug("peerproto: reply dropped", "type", typ, "request_id", id, "err", err)
	}
}

func (c *serverConn) replyError(id string, e *Error) {
	c.reply(TypeError, id, e)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
