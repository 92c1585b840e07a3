package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aria-node/aria/consent"
	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/p2p"
	"github.com/aria-node/aria/p2p/peerlink"
	"github.com/aria-node/aria/p2p/peerproto"
)

// PeerConfig configures the node's part in the peer network.
type PeerConfig struct {
	Disabled      bool     // no libp2p host and no WebSocket server (tests of a lone node)
	Host          string   // WebSocket server bind address; default 0.0.0.0 (peers authenticate)
	AdvertiseHost string   // host in the ws:// URL peers are told; default: Host, or this machine's first non-loopback address
	ListenP2P     []string // libp2p listen multiaddrs; default TCP and QUIC on all interfaces, random ports
	Bootstrap     []string // multiaddrs of peers to join the network through
	NoMDNS        bool
	MDNSService   string        // default p2p.DefaultMDNSService
	Publish       time.Duration // how often the record is checked for changes; default 2s
	RandomPort    bool          // bind the WebSocket server to a free port instead of Config.Port (tests)
	// Abuse limits of the peer port (see peerproto.ServerConfig): connections in
	// total (default 256, at most a quarter of the open-file limit) and per address
	// (default 64), and the idle close that pings do not defeat (default 2 min).
	MaxConns      int
	MaxConnsPerIP int
	IdleTimeout   time.Duration
}

// bindPeerPort binds the WebSocket peer protocol's port, early, so a port in use is an
// error before minutes of model loading.
func (n *Node) bindPeerPort() error {
	pc := n.cfg.Peers
	if pc.Disabled {
		return nil
	}
	host := pc.Host
	if host == "" {
		host = "0.0.0.0"
	}
	port := n.cfg.Port
	if pc.RandomPort {
		port = 0
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("peer protocol: %w", err)
	}
	n.wsLn = ln
	return nil
}

// startNetwork brings up the WebSocket peer protocol and the libp2p host, and keeps
// the node's record published.
func (n *Node) startNetwork(ctx context.Context, key crypto.PrivKey) error {
	pc := n.cfg.Peers
	n.bgCtx, n.bgStop = context.WithCancel(context.Background())
	n.links = peerlink.New(func(ctx context.Context, url, peerID string) (*peerproto.Conn, error) {
		return peerproto.Dial(ctx, url, peerproto.DialOptions{Key: key, ExpectPeer: peerID, Logger: n.log})
	}, 0)
	if pc.Disabled {
		return nil
	}
	ln := n.wsLn
	lim := consent.NewLimiter(n.cfg.Consent.MaxBandwidthMbps)
	if lim != nil {
		// max_bandwidth_mbps: every peer-protocol connection draws on one budget.
		ln = lim.Listener(n.bgCtx, ln)
	}
	maxConns := peerConnCap(pc.MaxConns, raiseFileLimit(n.log))
	n.ws = peerproto.NewServer(peerproto.ServerConfig{Handler: peerHandler{n}, Key: key, Version: Version, Logger: n.log,
		MaxConns: maxConns, MaxConnsPerIP: pc.MaxConnsPerIP, IdleTimeout: pc.IdleTimeout})
	n.wsDone = make(chan error, 1)
	go func() { n.wsDone <- n.ws.Serve(ln) }()
	n.wsURL = "ws://" + net.JoinHostPort(advertiseHost(pc), strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	n.log.Info("peer protocol listening", "addr", ln.Addr().String(), "advertised", n.wsURL, "max_conns", maxConns)

	h, err := p2p.New(ctx, p2p.Config{Key: key, ListenAddrs: pc.ListenP2P, Bootstrap: pc.Bootstrap, MDNS: !pc.NoMDNS,
		MDNSService: pc.MDNSService, Logger: n.log})
	if err != nil {
		return fmt.Errorf("libp2p: %w", err)
	}
	n.host = h
	n.router.attach(h, n.id.String(), n.bgCtx, &n.bg)
	h.OnPeerChange(func(peer.ID) { n.router.voidProviders() })
	n.log.Info("libp2p host up: other nodes can --bootstrap from these", "addrs", h.Addrs())
	n.serveModelFiles(lim)
	pctx, cancel := context.WithCancel(context.Background())
	n.stopPublish, n.publishDone = cancel, make(chan struct{})
	go n.publishLoop(pctx)
	return nil
}

// publishLoop publishes the node's record at start and whenever it changes.
func (n *Node) publishLoop(ctx context.Context) {
	defer close(n.publishDone)
	every := n.cfg.Peers.Publish
	if every <= 0 {
		every = 2 * time.Second
	}
	var last uint64
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		rec := n.Record()
		if rec.Seq != last {
			pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := n.host.Publish(pctx, n.peerRecord(rec))
			cancel()
			if err == nil {
				last = rec.Seq
			} else if ctx.Err() == nil {
				n.log.Warn("publishing the node's record", "err", err)
			}
		}
		n.refreshRemoteModels(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refreshRemoteModels caches the models connected peers serve and this node does not,
// and those a peer served within the router's memory (peerModelMemory): while their
// providers are down the model stays listed, and a request for it is routed and answered
// "providers unreachable" (503, Retry-After) rather than "no model loaded".
func (n *Node) refreshRemoteModels(ctx context.Context) {
	local := map[string]bool{}
	for _, m := range n.engine.Models() {
		local[m.ID] = true
	}
	seen := map[string]bool{}
	var remote []inference.ModelInfo
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, p := range n.host.Peers(pctx) {
		rec := p.Record
		if rec == nil || !rec.Accepting {
			continue
		}
		for _, m := range rec.Models {
			if !local[m] && !seen[m] {
				seen[m] = true
				remote = append(remote, inference.ModelInfo{ID: m})
				n.router.sawPeerModel(m)
			}
		}
	}
	for _, m := range n.router.recentPeerModels() {
		if !local[m] && !seen[m] {
			seen[m] = true
			remote = append(remote, inference.ModelInfo{ID: m})
		}
	}
	n.remoteMu.Lock()
	n.remote = remote
	n.remoteMu.Unlock()
}

// RemoteModels are models this node reaches through peers (for /v1/models).
func (n *Node) RemoteModels() []inference.ModelInfo {
	n.remoteMu.Lock()
	defer n.remoteMu.Unlock()
	return append([]inference.ModelInfo(nil), n.remote...)
}

func (n *Node) peerRecord(r Record) p2p.PeerRecord {
	pr := p2p.PeerRecord{PeerID: r.PeerID, WSURL: n.wsURL, Models: r.Models, Load: r.Load, Accepting: r.Accepting, Version: r.Version, Seq: r.Seq}
	if r.Reason != nil {
		pr.Reason = r.Reason.Code
	}
	return pr
}

// stopNetwork closes peer links and servers: first stop accepting, then drain, then close.
func (n *Node) stopNetwork(ctx context.Context) error {
	var errs []error
	if n.stopPublish != nil {
		n.stopPublish()
		<-n.publishDone
	}
	if n.ws == nil && n.wsLn != nil {
		n.wsLn.Close() // bound, never served
	}
	if n.ws != nil {
		if err := n.ws.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("peer protocol: %w", err))
		}
		if err := <-n.wsDone; err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	// After the drain: rate-limited connections wait on this context.
	if n.bgStop != nil {
		n.bgStop()
		n.bg.Wait()
	}
	if n.links != nil {
		n.links.Close()
	}
	if n.host != nil {
		if err := n.host.Close(); err != nil {
			errs = append(errs, fmt.Errorf("libp2p: %w", err))
		}
	}
	return errors.Join(errs...)
}

// advertiseHost is the host peers are told to dial.
func advertiseHost(pc PeerConfig) string {
	if pc.AdvertiseHost != "" {
		return pc.AdvertiseHost
	}
	if h := pc.Host; h != "" && h != "0.0.0.0" && h != "::" {
		return h
	}
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil && !ipn.IP.IsLinkLocalUnicast() {
				return ipn.IP.String()
			}
		}
	}
	return "127.0.0.1"
}
