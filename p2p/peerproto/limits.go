package peerproto

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the server's abuse limits.
const (
	defaultMaxConns          = 256
	defaultMaxConnsPerIP     = 64
	defaultIdleTimeout       = 2 * time.Minute
	defaultMaxClientInFlight = 4
)

// capListener enforces the connection caps at accept: over the total or its
// address's cap a connection is closed at once, before it costs a goroutine, a TLS
// or HTTP parse, or a WebSocket. Its count drops when the connection closes.
type capListener struct {
	net.Listener
	total, perIP int
	refused      atomic.Uint64

	mu    sync.Mutex
	open  int
	byIP  map[string]int
	onRef func(remote string)
}

func newCapListener(ln net.Listener, total, perIP int, onRefuse func(string)) *capListener {
	return &capListener{Listener: ln, total: total, perIP: perIP, byIP: make(map[string]int), onRef: onRefuse}
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := hostOf(c.RemoteAddr())
		l.mu.Lock()
		ok := l.open < l.total && l.byIP[ip] < l.perIP
		if ok {
			l.open++
			l.byIP[ip]++
		}
		l.mu.Unlock()
		if !ok {
			if n := l.refused.Add(1); n == 1 || n%1000 == 0 {
				l.onRef(c.RemoteAddr().String())
			}
			_ = c.Close()
			continue
		}
		return &cappedConn{Conn: c, release: func() { l.release(ip) }}, nil
	}
}

func (l *capListener) release(ip string) {
	l.mu.Lock()
	l.open--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
	l.mu.Unlock()
}

func (l *capListener) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

type cappedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
