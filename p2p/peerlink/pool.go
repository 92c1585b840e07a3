// Package peerlink keeps WebSocket peer-protocol connections to other nodes: one
// cache for the router's links to peers and the stand-alone gateway's link to its node.
package peerlink

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aria-node/aria/p2p/peerproto"
)

// DialFunc opens a connection to url; when peerID is set it must fail unless the
// server proves that peer ID (peerproto.DialOptions.ExpectPeer).
type DialFunc func(ctx context.Context, url, peerID string) (*peerproto.Conn, error)

// Pool caches one connection per URL. Concurrent callers share one dial; a cached
// connection is reused only for the peer ID it proved, and only while it is open.
type Pool struct {
	dial    DialFunc
	timeout time.Duration

	mu     sync.Mutex
	conns  map[string]*entry
	closed bool
}

type entry struct {
	ready chan struct{} // closed when the dial ended
	conn  *peerproto.Conn
	err   error
}

// New returns a pool that dials with dial, each dial bounded by timeout (default 5s).
func New(dial DialFunc, timeout time.Duration) *Pool {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return &Pool{dial: dial, timeout: timeout, conns: map[string]*entry{}}
}

// Get returns the connection to url, dialling it if there is none (or the cached one
// closed, or proved another peer than peerID).
func (p *Pool) Get(ctx context.Context, url, peerID string) (*peerproto.Conn, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, fmt.Errorf("connect to %s: %w", url, peerproto.ErrConnLost)
		}
		e := p.conns[url]
		if e == nil {
			e = &entry{ready: make(chan struct{})}
			p.conns[url] = e
			p.mu.Unlock()
			p.dialInto(ctx, url, peerID, e)
		} else {
			p.mu.Unlock()
		}
		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.err != nil {
			return nil, e.err
		}
		if usable(e.conn, peerID) {
			return e.conn, nil
		}
		p.Drop(url, e.conn) // closed, or another peer now lives at url: dial again
	}
}

func usable(c *peerproto.Conn, peerID string) bool {
	select {
	case <-c.Done():
		return false
	default:
	}
	return peerID == "" || c.RemotePeer() == peerID
}

// dialInto dials for every caller waiting on e: the dial outlives the first caller's
// ctx (bounded by the pool's timeout) so its cancellation does not fail the others.
func (p *Pool) dialInto(ctx context.Context, url, peerID string, e *entry) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout)
	defer cancel()
	c, err := p.dial(dctx, url, peerID)
	p.mu.Lock()
	if err != nil {
		e.err = fmt.Errorf("connect to %s: %w", url, err)
		if p.conns[url] == e {
			delete(p.conns, url)
		}
	} else if p.closed {
		c.Close()
		e.err = fmt.Errorf("connect to %s: %w", url, peerproto.ErrConnLost)
	} else {
		e.conn = c
	}
	p.mu.Unlock()
	close(e.ready)
}

// Drop forgets c as the connection to url (it failed) and closes it.
func (p *Pool) Drop(url string, c *peerproto.Conn) {
	if c == nil {
		return
	}
	p.mu.Lock()
	if e := p.conns[url]; e != nil && e.conn == c {
		delete(p.conns, url)
	}
	p.mu.Unlock()
	c.Close()
}

// Close closes every connection; later Gets fail.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.conns = map[string]*entry{}
	p.mu.Unlock()
	for _, e := range conns {
		select {
		case <-e.ready:
			if e.conn != nil {
				e.conn.Close()
			}
		default: // its dial closes what it gets: the pool is closed
		}
	}
}
