package peerproto

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

const (
	defaultMaxFrameBytes = 1 << 20
	defaultReadTimeout   = 60 * time.Second
	// writeWait bounds every write; a peer that does not take a frame within it
	// is treated as gone.
	writeWait = 10 * time.Second
	// closeGrace is how long a closing side waits for the peer's close frame.
	closeGrace = 2 * time.Second
	outboxSize = 64
)

var (
	errFrameTooLarge = errors.New("frame too large")
	errLinkClosed    = errors.New("peerproto: connection closed")
)

// link is the transport both ends share: one WebSocket, a writer goroutine that
// drains the outbox (syncthing's shape), a capped frame reader and an orderly
// close. The owner runs the read loop itself and calls teardown when it ends.
type link struct {
	ws          *websocket.Conn // nil in fuzz tests: frames only go to out
	maxFrame    int64
	readTimeout time.Duration
	pingEvery   time.Duration
	shouldPing  func() bool
	log         *slog.Logger

	out        chan []byte
	closing    chan struct{} // closed by beginClose
	writerDone chan struct{} // closed when the writer returns

	closeOnce sync.Once
	closeCode int
	closeText string

	dlMu      sync.Mutex // orders read-deadline changes between reader and closer
	closed    bool
	closeByDL time.Time
}

func newLink(ws *websocket.Conn, maxFrame int64, readTimeout, pingEvery time.Duration, shouldPing func() bool, log *slog.Logger) *link {
	l := &link{
		ws:          ws,
		maxFrame:    maxFrame,
		readTimeout: readTimeout,
		pingEvery:   pingEvery,
		shouldPing:  shouldPing,
		log:         log,
		out:         make(chan []byte, outboxSize),
		closing:     make(chan struct{}),
		writerDone:  make(chan struct{}),
	}
	if ws != nil {
		// Any control frame is a sign of life: it refreshes the read deadline.
		ws.SetPingHandler(func(data string) error {
			l.refreshDeadline()
			err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeWait))
			if err == nil || errors.Is(err, websocket.ErrCloseSent) {
				return nil
			}
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				return nil
			}
			return err
		})
		ws.SetPongHandler(func(string) error { l.refreshDeadline(); return nil })
		l.refreshDeadline()
	}
	return l
}

// send queues one frame. It fails when ctx ends or the link is closing; it never
// blocks past either.
func (l *link) send(ctx context.Context, frame []byte) error {
	if err := ctx.Err(); err != nil {
		return err // e.g. a chunk after its request ended must not go out
	}
	select {
	case <-l.closing:
		return errLinkClosed
	default:
	}
	select {
	case l.out <- frame:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-l.closing:
		return errLinkClosed
	case <-l.writerDone:
		return errLinkClosed
	}
}

// refreshDeadline pushes the read deadline ReadTimeout ahead, or, once the link
// is closing, keeps it at the close deadline so a blocked reader wakes up.
func (l *link) refreshDeadline() {
	if l.ws == nil {
		return
	}
	l.dlMu.Lock()
	defer l.dlMu.Unlock()
	if l.closed {
		_ = l.ws.SetReadDeadline(l.closeByDL)
		return
	}
	_ = l.ws.SetReadDeadline(time.Now().Add(l.readTimeout))
}

// beginClose starts an orderly close: the writer flushes what is queued, sends a
// close frame with code, and the reader gets closeGrace to see the peer's reply.
func (l *link) beginClose(code int, text string) {
	l.closeOnce.Do(func() {
		l.closeCode, l.closeText = code, text
		l.dlMu.Lock()
		l.closed = true
		l.closeByDL = time.Now().Add(closeGrace)
		if l.ws != nil {
			_ = l.ws.SetReadDeadline(l.closeByDL)
		}
		l.dlMu.Unlock()
		close(l.closing)
	})
}

func (l *link) isClosing() bool {
	select {
	case <-l.closing:
		return true
	default:
		return false
	}
}

// readFrame reads one data message, never holding more than maxFrame+1 bytes of
// it. gorilla's own SetReadLimit is not used: it sends close 1009 before the
// caller could queue a frame_too_large error, and this cap bounds memory the same.
func (l *link) readFrame() (int, []byte, error) {
	mt, r, err := l.ws.NextReader()
	if err != nil {
		return 0, nil, err
	}
	l.refreshDeadline()
	b, err := io.ReadAll(io.LimitReader(r, l.maxFrame+1))
	if err != nil {
		return 0, nil, err
	}
	if int64(len(b)) > l.maxFrame {
		return mt, nil, errFrameTooLarge
	}
	return mt, b, nil
}

// runWriter is the only goroutine that writes data frames.
func (l *link) runWriter() {
	defer close(l.writerDone)
	var tick <-chan time.Time
	if l.pingEvery > 0 {
		t := time.NewTicker(l.pingEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case b := <-l.out:
			_ = l.ws.SetWriteDeadline(time.Now().Add(writeWait))
			if err := l.ws.WriteMessage(websocket.TextMessage, b); err != nil {
				l.log.Debug("peerproto: write failed", "err", err)
				_ = l.ws.Close() // wakes the reader; the owner tears down
				return
			}
		case <-tick:
			if l.shouldPing != nil && !l.shouldPing() {
				continue
			}
			if err := l.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				l.log.Debug("peerproto: ping failed", "err", err)
				_ = l.ws.Close()
				return
			}
		case <-l.closing:
			// One deadline for the whole flush: a stuck peer cannot hold us
			// for writeWait per queued frame.
			deadline := time.Now().Add(writeWait)
			_ = l.ws.SetWriteDeadline(deadline)
		flush:
			for {
				select {
				case b := <-l.out:
					if err := l.ws.WriteMessage(websocket.TextMessage, b); err != nil {
						return
					}
				default:
					break flush
				}
			}
			_ = l.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(l.closeCode, l.closeText), deadline)
			return
		}
	}
}

// teardown ends the link after its read loop returned with readErr: a clean or
// timed-out read gets an orderly close frame, a broken one is cut at once.
func (l *link) teardown(readErr error) {
	var ce *websocket.CloseError
	var ne interface{ Timeout() bool }
	switch {
	case errors.As(readErr, &ce), l.isClosing():
	case errors.As(readErr, &ne) && ne.Timeout():
		l.beginClose(websocket.CloseGoingAway, "idle timeout")
	default:
		_ = l.ws.Close()
	}
	l.beginClose(websocket.CloseNormalClosure, "")
	<-l.writerDone // bounded: every write has a deadline
	_ = l.ws.Close()
}
