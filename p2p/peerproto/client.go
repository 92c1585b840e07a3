package peerproto

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// DialOptions configures Dial. Zero values take the documented defaults.
type DialOptions struct {
	// Key signs a hello so the server treats this connection as a peer link;
	// nil dials as a bare client.
	Key crypto.PrivKey
	// ExpectPeer, when set, makes Dial fail unless the server's welcome names
	// this peer ID (what the DHT record said lives at the URL).
	ExpectPeer string
	// MaxFrameBytes caps one incoming frame (default 1 MiB).
	MaxFrameBytes int64
	// PingInterval is how often the client pings to keep the link alive and to
	// notice a dead server (default 20s); silence for 3× it drops the link.
	PingInterval time.Duration
	Logger       *slog.Logger
	// OwnerToken, when set, is presented in HeaderOwnerToken: the node's owner token
	// (DATA_DIR/owner.token), which makes a client on its machine the owner.
	OwnerToken string
}

// Conn is a client connection; its methods are safe for concurrent use and
// requests are multiplexed by request_id.
type Conn struct {
	link       *link
	remotePeer string
	localPeer  string
	log        *slog.Logger
	idPrefix   string
	seq        atomic.Uint64
	done       chan struct{} // reader and writer ended, socket closed

	mu      sync.Mutex
	pending map[string]*call
	lostErr error // set when the reader ends
}

// Dial connects to a server at url (ws://host:port), reads its welcome and, with
// opts.Key, authenticates with a hello and waits for hello_ack. A refused hello
// returns an *Error with code unauthorized.
func Dial(ctx context.Context, url string, opts DialOptions) (*Conn, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxFrameBytes <= 0 {
		opts.MaxFrameBytes = defaultMaxFrameBytes
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = 20 * time.Second
	}
	d := websocket.Dialer{HandshakeTimeout: writeWait} // no Proxy: peers connect directly
	var hdr http.Header
	if opts.OwnerToken != "" {
		hdr = http.Header{HeaderOwnerToken: {opts.OwnerToken}}
	}
	ws, resp, err := d.DialContext(ctx, url, hdr)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	c := &Conn{
		log:     opts.Logger.With("url", url),
		done:    make(chan struct{}),
		pending: make(map[string]*call),
	}
	var p [4]byte
	_, _ = rand.Read(p[:])
	c.idPrefix = hex.EncodeToString(p[:]) + "-"
	c.link = newLink(ws, opts.MaxFrameBytes, 3*opts.PingInterval, opts.PingInterval, nil, c.log)
	if err := c.handshake(ctx, opts); err != nil {
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		_ = ws.Close()
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	c.link.refreshDeadline()
	go c.link.runWriter()
	go c.readLoop()
	return c, nil
}

// handshake runs before the writer and reader goroutines exist, so it reads and
// writes the socket directly. ctx cancellation closes the socket.
func (c *Conn) handshake(ctx context.Context, opts DialOptions) error {
	stop := context.AfterFunc(ctx, func() { _ = c.link.ws.Close() })
	err := c.exchangeHello(ctx, opts)
	if !stop() { // ctx ended and the socket is (being) closed
		return ctx.Err()
	}
	return err
}

func (c *Conn) exchangeHello(ctx context.Context, opts DialOptions) error {
	ws := c.link.ws
	deadline := time.Now().Add(writeWait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = ws.SetReadDeadline(deadline)
	_ = ws.SetWriteDeadline(deadline)
	fail := func(err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}

	env, err := c.readHandshakeFrame()
	if err != nil {
		return fail(fmt.Errorf("read welcome: %w", err))
	}
	if env.Type != TypeWelcome {
		return fmt.Errorf("expected welcome, got %q", env.Type)
	}
	var w Welcome
	if err := json.Unmarshal(env.Data, &w); err != nil {
		return fmt.Errorf("welcome data: %w", err)
	}
	nonce, err := base64.StdEncoding.DecodeString(w.Nonce)
	if err != nil || len(nonce) < 16 {
		return errors.New("welcome: nonce must be base64 of at least 16 bytes")
	}
	if _, err := peer.Decode(w.PeerID); err != nil {
		return fmt.Errorf("welcome: peer_id: %w", err)
	}
	if opts.ExpectPeer != "" && w.PeerID != opts.ExpectPeer {
		return fmt.Errorf("welcome: server is %s, expected %s", w.PeerID, opts.ExpectPeer)
	}
	c.remotePeer = w.PeerID
	if opts.Key == nil {
		return nil
	}

	h, err := signHello(opts.Key, w.PeerID, nonce)
	if err != nil {
		return err
	}
	c.localPeer = h.PeerID
	f, err := newEnvelope(TypeHello, "hello", h.PeerID, h)
	if err != nil {
		return err
	}
	if err := ws.WriteMessage(websocket.TextMessage, f); err != nil {
		return fail(fmt.Errorf("send hello: %w", err))
	}
	for {
		env, err := c.readHandshakeFrame()
		if err != nil {
			return fail(fmt.Errorf("read hello_ack: %w", err))
		}
		if env.RequestID != "hello" {
			continue
		}
		switch env.Type {
		case TypeHelloAck:
			return nil
		case TypeError:
			return decodeError(env)
		default:
			return fmt.Errorf("expected hello_ack, got %q", env.Type)
		}
	}
}

func (c *Conn) readHandshakeFrame() (Envelope, error) {
	mt, b, err := c.link.readFrame()
	if err != nil {
		return Envelope{}, err
	}
	if mt != websocket.TextMessage {
		return Envelope{}, errors.New("binary frame from server")
	}
	return DecodeEnvelope(b)
}

// RemotePeer is the server's peer ID from welcome.
func (c *Conn) RemotePeer() string { return c.remotePeer }

// LocalPeer is the peer ID this connection authenticated as ("" for a bare client).
func (c *Conn) LocalPeer() string { return c.localPeer }

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Close sends a close frame, waits briefly for the server's reply and releases
// the connection. Pending calls return a *ConnLostError.
func (c *Conn) Close() error {
	c.link.beginClose(websocket.CloseNormalClosure, "")
	<-c.done // bounded: beginClose set the reader's deadline to closeGrace
	return nil
}

func (c *Conn) readLoop() {
	var readErr, frameErr error
	for {
		mt, b, err := c.link.readFrame()
		if err != nil {
			readErr = err
			if errors.Is(err, errFrameTooLarge) {
				c.log.Warn("peerproto: server sent an oversize frame, closing")
				c.link.beginClose(websocket.CloseMessageTooBig, "frame too large")
			}
			break
		}
		if mt != websocket.TextMessage {
			c.log.Debug("peerproto: ignoring binary frame from server")
			continue
		}
		env, err := DecodeEnvelope(b)
		if err != nil {
			c.log.Debug("peerproto: ignoring malformed frame from server", "err", err)
			continue
		}
		c.mu.Lock()
		k := c.pending[env.RequestID]
		c.mu.Unlock()
		if k == nil {
			if env.Type == TypeError {
				c.log.Debug("peerproto: server error", "request_id", env.RequestID, "data", truncate(string(env.Data), 200))
				if env.RequestID == "" {
					frameErr = decodeError(env) // e.g. frame_too_large just before the server closes
				}
			}
			continue // e.g. the tail of a request the caller gave up on
		}
		k.push(env)
	}
	c.link.teardown(readErr)
	if c.link.isClosing() && readErr != nil {
		var ce *websocket.CloseError
		if !errors.As(readErr, &ce) {
			readErr = errLinkClosed
		}
	}
	if frameErr != nil {
		// Pending calls see why the server gave up: errors.Is(err, &Error{Code: CodeFrameTooLarge}).
		readErr = errors.Join(frameErr, readErr)
	}
	c.mu.Lock()
	c.lostErr = readErr
	pending := c.pending
	c.pending = map[string]*call{}
	c.mu.Unlock()
	for _, k := range pending {
		k.lose(readErr)
	}
	close(c.done)
}

// call collects the frames of one request. The reader only appends (it never
// waits for a caller), so a slow onText cannot stall other requests.
type call struct {
	mu     sync.Mutex
	frames []Envelope
	lost   error
	isLost bool
	notify chan struct{}
}

func (k *call) push(e Envelope) {
	k.mu.Lock()
	k.frames = append(k.frames, e)
	k.mu.Unlock()
	select {
	case k.notify <- struct{}{}:
	default:
	}
}

func (k *call) lose(err error) {
	k.mu.Lock()
	k.isLost, k.lost = true, err
	k.mu.Unlock()
	select {
	case k.notify <- struct{}{}:
	default:
	}
}

func (k *call) take() ([]Envelope, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	f := k.frames
	k.frames = nil
	return f, k.isLost, k.lost
}

// start registers a call and sends its request frame.
func (c *Conn) start(ctx context.Context, typ string, data any) (string, *call, error) {
	id := c.idPrefix + strconv.FormatUint(c.seq.Add(1), 10)
	k := &call{notify: make(chan struct{}, 1)}
	c.mu.Lock()
	if c.lostErr != nil || c.link.isClosing() {
		err := c.lostErr
		c.mu.Unlock()
		return "", nil, &ConnLostError{Err: err}
	}
	c.pending[id] = k
	c.mu.Unlock()
	f, err := newEnvelope(typ, id, c.localPeer, data)
	if err == nil {
		err = c.link.send(ctx, f)
	}
	if err != nil {
		c.forget(id)
		if errors.Is(err, errLinkClosed) {
			return "", nil, &ConnLostError{Err: err}
		}
		return "", nil, err
	}
	return id, k, nil
}

func (c *Conn) forget(id string) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// Infer sends req (Stream = onText != nil) and returns the terminal response.
// Chunks go to onText in order; an error from onText cancels the request and is
// returned. ctx cancellation sends cancel so the server stops generating. A
// server error reply is an *Error; a lost connection a *ConnLostError.
func (c *Conn) Infer(ctx context.Context, req InferenceRequest, onText func(string) error) (InferenceResponse, error) {
	var onChunk func(Chunk) error
	if onText != nil {
		onChunk = func(ch Chunk) error { return onText(ch.Text) }
	}
	return c.InferChunks(ctx, req, onChunk)
}

// InferChunks is Infer with whole chunks (text and, when asked for, the token's
// log-probability) streamed to onChunk.
func (c *Conn) InferChunks(ctx context.Context, req InferenceRequest, onChunk func(Chunk) error) (InferenceResponse, error) {
	req.Stream = onChunk != nil
	id, k, err := c.start(ctx, TypeInferenceRequest, req)
	if err != nil {
		return InferenceResponse{}, err
	}
	gotText := false
	for {
		select {
		case <-k.notify:
		case <-ctx.Done():
			c.cancelRemote(id)
			return InferenceResponse{}, ctx.Err()
		}
		frames, lost, lostErr := k.take()
		for _, e := range frames {
			switch e.Type {
			case TypeInferenceChunk:
				gotText = true
				var ch Chunk
				if err := json.Unmarshal(e.Data, &ch); err != nil {
					c.cancelRemote(id)
					return InferenceResponse{}, fmt.Errorf("inference_chunk data: %w", err)
				}
				if onChunk != nil {
					if err := onChunk(ch); err != nil {
						c.cancelRemote(id)
						return InferenceResponse{}, err
					}
				}
			case TypeInferenceResponse:
				c.forget(id)
				var r InferenceResponse
				if err := json.Unmarshal(e.Data, &r); err != nil {
					return InferenceResponse{}, fmt.Errorf("inference_response data: %w", err)
				}
				return r, nil
			case TypeError:
				c.forget(id)
				return InferenceResponse{}, decodeError(e)
			}
		}
		if lost {
			return InferenceResponse{}, &ConnLostError{AfterFirstToken: gotText, Err: lostErr}
		}
	}
}

// cancelRemote forgets the call and tells the server to stop it, best effort:
// the caller is leaving and must not wait long.
func (c *Conn) cancelRemote(id string) {
	c.forget(id)
	f, err := newEnvelope(TypeCancel, id, c.localPeer, nil)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.link.send(ctx, f)
}

// roundTrip sends one request and waits for a reply of type want.
func (c *Conn) roundTrip(ctx context.Context, typ, want string, data any) (Envelope, error) {
	id, k, err := c.start(ctx, typ, data)
	if err != nil {
		return Envelope{}, err
	}
	defer c.forget(id)
	for {
		select {
		case <-k.notify:
		case <-ctx.Done():
			return Envelope{}, ctx.Err()
		}
		frames, lost, lostErr := k.take()
		for _, e := range frames {
			switch e.Type {
			case want:
				return e, nil
			case TypeError:
				return Envelope{}, decodeError(e)
			}
		}
		if lost {
			return Envelope{}, &ConnLostError{Err: lostErr}
		}
	}
}

// Stats returns the server's stats object.
func (c *Conn) Stats(ctx context.Context) (json.RawMessage, error) {
	e, err := c.roundTrip(ctx, TypeGetStats, TypeStats, nil)
	return e.Data, err
}

// Peers returns the server's peer list (the array in peers_list's data.peers).
func (c *Conn) Peers(ctx context.Context) (json.RawMessage, error) {
	e, err := c.roundTrip(ctx, TypeGetPeers, TypePeersList, nil)
	if err != nil {
		return nil, err
	}
	var d struct {
		Peers json.RawMessage `json:"peers"`
	}
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return nil, fmt.Errorf("peers_list data: %w", err)
	}
	return d.Peers, nil
}

// Ping measures one application-level ping/pong round trip.
func (c *Conn) Ping(ctx context.Context) (time.Duration, error) {
	t0 := time.Now()
	_, err := c.roundTrip(ctx, TypePing, TypePong, nil)
	if err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

func decodeError(e Envelope) error {
	pe := &Error{}
	if err := json.Unmarshal(e.Data, pe); err != nil || pe.Code == "" {
		return &Error{Code: CodeInternal, Message: "unreadable error reply: " + truncate(string(e.Data), 200)}
	}
	return pe
}
