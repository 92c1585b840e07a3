package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// DHTPrefix is the protocol prefix of aria's Kademlia DHT (/aria/kad/1.0.0); it keeps aria nodes out of the
// public IPFS DHT and it out of theirs.
const DHTPrefix = "/aria"

// Defaults applied by New to zero Config fields.
const (
	DefaultMDNSService = "_aria._udp" // DNS-SD service type (RFC 6763 form)
	DefaultRecordTTL   = 30 * time.Minute
	DefaultRepublish   = 10 * time.Minute
	DefaultConnLow     = 32
	DefaultConnHigh    = 128
	DefaultUserAgent   = "aria"
)

// DefaultListenAddrs are used when Config.ListenAddrs is empty: TCP and QUIC on every interface, ports
// chosen by the kernel.
var DefaultListenAddrs = []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"}

const (
	// bootstrapDialTimeout bounds each bootstrap dial in New, so an unreachable peer cannot stall start.
	bootstrapDialTimeout = 10 * time.Second
	// mdnsDialTimeout bounds the dial to a peer found on the LAN.
	mdnsDialTimeout = 10 * time.Second
	// republishTimeout bounds one background republish.
	republishTimeout = 2 * time.Minute
	// firstRetry is the delay before republishing a record that reached no peer; it doubles up to
	// Config.Republish, so a lone node does not spin but a node whose peers arrive late is found soon.
	firstRetry = time.Second
	// recordRefresh is how long Peers trusts the last lookup of a peer's record (or its absence) before
	// looking it up again: callers poll Peers, and records change with load and consent.
	recordRefresh = time.Minute
	// missRefresh is how long Peers trusts that a peer has no record: a node that has just joined publishes
	// within seconds, and must not stay invisible for a whole recordRefresh.
	missRefresh = 5 * time.Second
	// maxCachedRecords is the cache size above which stale misses and expired records are swept out; live
	// records stay, one per peer, so the cache is bounded by the number of peers with a valid record.
	maxCachedRecords = 1024
	// lookupWorkers bounds the concurrent record lookups of FindProviders and Peers.
	lookupWorkers = 8
)

// Config configures New. Only Key is required.
type Config struct {
	Key         crypto.PrivKey // the node's identity (the caller loads identity.key)
	ListenAddrs []string       // default DefaultListenAddrs
	Bootstrap   []string       // full multiaddrs with /p2p/<id>
	MDNS        bool           // LAN discovery
	MDNSService string         // DNS-SD service type, default "_aria._udp"; tests use a random one so parallel tests do not meet
	RecordTTL   time.Duration  // default 30m; published records expire after this
	// Republish is the interval at which the last published record is sealed again with a fresh expiry and
	// put again (and its models provided again). Default: 10m, or RecordTTL/3 when that is shorter. It must
	// be shorter than RecordTTL, or the record would lapse between publishes.
	Republish         time.Duration
	ConnLow, ConnHigh int    // connection manager watermarks (defaults 32 / 128)
	UserAgent         string // identify user agent, default "aria"; the node may add its version
	Logger            *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Key == nil {
		return errors.New("config: no identity key")
	}
	if len(c.ListenAddrs) == 0 {
		c.ListenAddrs = DefaultListenAddrs
	}
	if c.MDNSService == "" {
		c.MDNSService = DefaultMDNSService
	}
	if c.RecordTTL == 0 {
		c.RecordTTL = DefaultRecordTTL
	}
	if c.Republish == 0 {
		c.Republish = min(DefaultRepublish, c.RecordTTL/3)
	}
	if c.RecordTTL < 0 || c.Republish <= 0 || c.Republish >= c.RecordTTL {
		return fmt.Errorf("config: republish interval %s must be positive and shorter than record TTL %s", c.Republish, c.RecordTTL)
	}
	if c.ConnLow == 0 {
		c.ConnLow = DefaultConnLow
	}
	if c.ConnHigh == 0 {
		c.ConnHigh = DefaultConnHigh
	}
	if c.ConnLow < 0 || c.ConnHigh < c.ConnLow {
		return fmt.Errorf("config: connection watermarks low %d high %d", c.ConnLow, c.ConnHigh)
	}
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Host is a running libp2p node: host, DHT, optional mDNS, and the republisher of its own record.
type Host struct {
	cfg  Config
	log  *slog.Logger
	host host.Host
	dht  *dht.IpfsDHT
	mdns mdns.Service // nil when disabled or when it failed to start

	ctx    context.Context // lives until Close; parent of background work
	cancel context.CancelFunc

	// publishing is a one-slot semaphore serialising Publish and the republisher, so sequence numbers stay
	// monotonic; a channel rather than a mutex so that Publish can give up when its ctx ends.
	publishing chan struct{}
	last       *PeerRecord // last published record, nil before the first Publish
	schedule   chan bool   // to the republisher after each publish: did the record reach a peer?

	mu     sync.Mutex
	cache  map[peer.ID]cacheEntry // what lookups of other peers' records found, for Peers and FindProviders
	closed bool
	// bootstrap and redialing (under mu) drive re-dialling of dropped peers (links.go).
	bootstrap map[peer.ID]peer.AddrInfo
	redialing map[peer.ID]bool
	wg        sync.WaitGroup // background goroutines: republisher, mDNS dials, cache fills

	closeOnce sync.Once
	closeErr  error
}

// PeerInfo describes one connected peer.
type PeerInfo struct {
	ID      peer.ID
	Addr    string        // remote multiaddr of one open connection
	Record  *PeerRecord   // its verified record (cached or looked up), nil if none was found
	Latency time.Duration // the peerstore's moving average, or one ping when there is none; 0 if unknown
}

// New starts a libp2p host (TCP + QUIC, connection manager, scaled resource manager, identify, ping), a DHT
// server under DHTPrefix validating peer records, and mDNS when enabled. It dials the bootstrap peers and
// logs those it cannot reach; it fails only on a malformed address or a host that cannot start. ctx bounds
// the bootstrap dials only; the Host lives until Close.
func New(ctx context.Context, cfg Config) (*Host, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	bootstrap, err := parsePeerAddrs(cfg.Bootstrap)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	for _, a := range cfg.ListenAddrs {
		if _, err := ma.NewMultiaddr(a); err != nil {
			return nil, fmt.Errorf("listen address %q: %w", a, err)
		}
	}

	cm, err := connmgr.NewConnManager(cfg.ConnLow, cfg.ConnHigh, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, fmt.Errorf("connection manager: %w", err)
	}
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.AutoScale()))
	if err != nil {
		cm.Close()
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	lh, err := libp2p.New(
		libp2p.Identity(cfg.Key),
		libp2p.ListenAddrStrings(cfg.ListenAddrs...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.ConnectionManager(cm),
		libp2p.ResourceManager(rm),
		libp2p.UserAgent(cfg.UserAgent),
		libp2p.Ping(true),
		// The node exports its own metrics; libp2p's would land in the global Prometheus registry.
		libp2p.DisableMetrics(),
	)
	if err != nil {
		return nil, fmt.Errorf("libp2p host: %w", err)
	}

	kad, err := dht.New(lh,
		dht.Mode(dht.ModeServer),
		dht.ProtocolPrefix(DHTPrefix),
		dht.NamespacedValidator(RecordNamespace, RecordValidator{}),
		dht.BootstrapPeers(bootstrap...),
	)
	if err != nil {
		lh.Close()
		return nil, fmt.Errorf("dht: %w", err)
	}

	hctx, cancel := context.WithCancel(context.Background())
	h := &Host{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "p2p"),
		host:       lh,
		dht:        kad,
		ctx:        hctx,
		cancel:     cancel,
		schedule:   make(chan bool, 1),
		publishing: make(chan struct{}, 1),
		cache:      make(map[peer.ID]cacheEntry),
	}

	h.watchLinks(bootstrap)
	h.dialBootstrap(ctx, bootstrap)
	if err := ctx.Err(); err != nil {
		// The caller gave up while we dialled (e.g. a signal during start): not a half-started node.
		h.Close()
		return nil, fmt.Errorf("start p2p host: %w", err)
	}
	if err := kad.Bootstrap(hctx); err != nil {
		h.log.Warn("dht bootstrap", "err", err)
	}
	if cfg.MDNS {
		svc := mdns.NewMdnsService(lh, cfg.MDNSService, mdnsNotifee{h})
		if err := svc.Start(); err != nil {
			// A host without multicast still works through the DHT.
			h.log.Warn("mdns disabled", "err", err)
		} else {
			h.mdns = svc
		}
	}

	h.wg.Add(1)
	go h.republishLoop()
	h.log.Debug("p2p host started", "peer_id", h.ID(), "addrs", h.Addrs(), "mdns", h.mdns != nil)
	return h, nil
}

func parsePeerAddrs(addrs []string) ([]peer.AddrInfo, error) {
	var mas []ma.Multiaddr
	for _, s := range addrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		if _, err := peer.IDFromP2PAddr(m); err != nil {
			return nil, fmt.Errorf("%q: needs /p2p/<peer id>: %w", s, err)
		}
		mas = append(mas, m)
	}
	return peer.AddrInfosFromP2pAddrs(mas...)
}

func (h *Host) dialBootstrap(ctx context.Context, peers []peer.AddrInfo) {
	var wg sync.WaitGroup
	for _, ai := range peers {
		if ai.ID == h.ID() {
			continue
		}
		wg.Go(func() {
			dctx, cancel := context.WithTimeout(ctx, bootstrapDialTimeout)
			defer cancel()
			if err := h.host.Connect(dctx, ai); err != nil {
				h.log.Warn("bootstrap peer unreachable", "peer", ai.ID, "err", err)
				return
			}
			h.log.Debug("connected to bootstrap peer", "peer", ai.ID)
		})
	}
	wg.Wait()
}

// ID is the host's peer ID.
func (h *Host) ID() peer.ID { return h.host.ID() }

// Addrs returns the host's listen addresses with /p2p/<id> appended, ready for another node's --bootstrap.
func (h *Host) Addrs() []string {
	mas, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: h.ID(), Addrs: h.host.Addrs()})
	if err != nil {
		return nil
	}
	out := make([]string, len(mas))
	for i, m := range mas {
		out[i] = m.String()
	}
	return out
}

// Connect dials a full multiaddr (with /p2p/<id>).
func (h *Host) Connect(ctx context.Context, addr string) error {
	ais, err := parsePeerAddrs([]string{addr})
	if err != nil {
		return err
	}
	if err := h.host.Connect(ctx, ais[0]); err != nil {
		return fmt.Errorf("connect %s: %w", addr, err)
	}
	return nil
}

// Publish signs r as this host's record and stores it in the DHT, then provides every model in r.Models.
// It fills PeerID, Addrs and Expires (now + RecordTTL) and assigns Seq: r.Seq when it exceeds the last
// Seq, else the larger of last+1 and the current Unix time in milliseconds when r.Seq is 0, else last+1.
// "Last" is the higher of the Seq this host last published and the Seq the DHT holds for its key, so a
// restarted node whose counter starts again at 1 still replaces the record of its previous run. (The time
// is in milliseconds so that JSON readers using float64 keep the number exact.)
// The record is republished every Config.Republish until Close. With no DHT peer yet, the record stays in
// the local store, Publish returns nil and the republisher retries soon.
func (h *Host) Publish(ctx context.Context, r PeerRecord) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	select {
	case h.publishing <- struct{}{}:
		defer func() { <-h.publishing }()
	case <-ctx.Done():
		return fmt.Errorf("publish: %w", ctx.Err())
	}
	// The network may hold a record of this key with a higher Seq than this process knows, left by the
	// key's previous run; it would win every lookup until it expired. One lookup per publish rules that out
	// (a put costs one lookup per model anyway).
	last := h.networkSeq(ctx)
	if h.last != nil {
		last = max(last, h.last.Seq)
	}
	switch {
	case r.Seq > last:
	case r.Seq == 0:
		r.Seq = max(nextSeq(last), uint64(time.Now().UnixMilli()))
	default:
		r.Seq = nextSeq(last)
	}
	r.Models = slices.Clone(r.Models)
	return h.publishLocked(ctx, r)
}

// publishLocked seals, stores and provides r, remembers it for the republisher and schedules the next
// republish. The caller holds the publishing slot.
func (h *Host) publishLocked(ctx context.Context, r PeerRecord) error {
	if err := h.ctx.Err(); err != nil {
		return errors.New("publish: host closed")
	}
	r.PeerID = h.ID().String()
	r.Addrs = h.Addrs()
	r.Expires = time.Now().Add(h.cfg.RecordTTL).UTC()
	data, err := SealRecord(h.cfg.Key, r)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	h.last = &r

	reached := true
	if err := h.dht.PutValue(ctx, PeerRecordKey(h.ID()), data); err != nil {
		if !errors.Is(err, kb.ErrLookupFailure) {
			h.reschedule(false)
			return fmt.Errorf("publish record: %w", err)
		}
		reached = false
		h.log.Debug("no dht peers: record kept locally", "seq", r.Seq)
	}
	for _, m := range r.Models {
		if err := h.dht.Provide(ctx, ModelCID(m), true); err != nil {
			if !errors.Is(err, kb.ErrLookupFailure) {
				h.reschedule(false)
				return fmt.Errorf("provide model %s: %w", m, err)
			}
			reached = false
			h.log.Debug("no dht peers: model provided locally", "model", m)
		}
	}
	h.reschedule(reached)
	h.log.Debug("published peer record", "seq", r.Seq, "models", r.Models, "reached_peers", reached)
	return nil
}

// networkSeq is the Seq of this host's record as the DHT has it now, 0 if none is found.
func (h *Host) networkSeq(ctx context.Context) uint64 {
	data, err := h.dht.GetValue(ctx, PeerRecordKey(h.ID()))
	if err != nil {
		return 0
	}
	r, err := validateRecord(PeerRecordKey(h.ID()), data)
	if err != nil {
		return 0
	}
	return r.Seq
}

// nextSeq saturates instead of wrapping to 0, which every validator would rank below the current record.
func nextSeq(seq uint64) uint64 {
	if seq == math.MaxUint64 {
		return seq
	}
	return seq + 1
}

// reschedule tells the republisher how the last publish went, replacing any pending report: after a
// complete publish it waits Config.Republish, after a failed or local-only one it retries with backoff.
func (h *Host) reschedule(reached bool) {
	select {
	case <-h.schedule:
	default:
	}
	h.schedule <- reached // cannot block: capacity 1, drained above, and only publishLocked sends (holding the publishing slot)
}

func (h *Host) republishLoop() {
	defer h.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	retry := firstRetry
	for {
		select {
		case <-h.ctx.Done():
			timer.Stop()
			return
		case reached := <-h.schedule:
			d := h.cfg.Republish
			if reached {
				retry = firstRetry
			} else {
				// Back off while no peer is reachable: 1s, 2s, 4s ... Republish, with jitter so nodes
				// started together do not republish together.
				d = min(retry+rand.N(retry/4+1), h.cfg.Republish)
				retry = min(retry*2, h.cfg.Republish)
			}
			timer.Reset(d)
		case <-timer.C:
			h.republish()
		}
	}
}

func (h *Host) republish() {
	select {
	case h.publishing <- struct{}{}:
		defer func() { <-h.publishing }()
	case <-h.ctx.Done():
		return
	}
	if h.last == nil {
		return
	}
	ctx, cancel := context.WithTimeout(h.ctx, republishTimeout)
	defer cancel()
	r := *h.last
	r.Seq = nextSeq(max(r.Seq, h.networkSeq(ctx)))
	if err := h.publishLocked(ctx, r); err != nil && h.ctx.Err() == nil {
		h.log.Warn("republish peer record", "err", err)
	}
}

// Lookup fetches id's record from the DHT and verifies it; the result is cached for FindProviders and Peers.
func (h *Host) Lookup(ctx context.Context, id peer.ID) (PeerRecord, error) {
	data, err := h.dht.GetValue(ctx, PeerRecordKey(id))
	if err != nil {
		return PeerRecord{}, fmt.Errorf("lookup %s: %w", id, err)
	}
	r, err := validateRecord(PeerRecordKey(id), data)
	if err != nil {
		return PeerRecord{}, fmt.Errorf("lookup %s: %w", id, err)
	}
	h.remember(id, r)
	return r, nil
}

// cacheEntry is the outcome of the last lookup of a peer's record: the record (found), or a miss.
type cacheEntry struct {
	rec     PeerRecord
	found   bool
	fetched time.Time
}

// remember caches r, unless a record with a higher Seq is cached already (a lookup can reach only peers
// holding an older copy); either way the entry counts as fresh.
func (h *Host) remember(id peer.ID, r PeerRecord) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.cache[id]
	if !e.found || r.Seq >= e.rec.Seq {
		e.rec, e.found = r, true
	}
	e.fetched = time.Now()
	h.cache[id] = e
	h.sweepLocked()
}

// rememberMiss notes that id's record could not be found, so Peers does not look it up again at once; a
// cached record that is still valid is kept.
func (h *Host) rememberMiss(id peer.ID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.cache[id]
	e.fetched = time.Now()
	h.cache[id] = e
	h.sweepLocked()
}

func (h *Host) sweepLocked() {
	if len(h.cache) <= maxCachedRecords {
		return
	}
	now := time.Now()
	for id, e := range h.cache {
		if now.Sub(e.fetched) > recordRefresh && (!e.found || !now.Before(e.rec.Expires)) {
			delete(h.cache, id)
		}
	}
}

// cached returns id's cached record if there is one and it has not expired, and whether the last lookup
// of id (found or not) is recent enough to skip another.
func (h *Host) cached(id peer.ID) (r PeerRecord, ok, fresh bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, have := h.cache[id]
	if !have {
		return PeerRecord{}, false, false
	}
	now := time.Now()
	if e.found && now.Before(e.rec.Expires) {
		return e.rec, true, now.Sub(e.fetched) < recordRefresh
	}
	return PeerRecord{}, false, now.Sub(e.fetched) < missRefresh
}

// FindProviders returns up to limit records (limit <= 0: no limit) of other peers that serve model: the DHT's
// providers of ModelCID(model), each resolved with Lookup (peers whose record cannot be found or no longer
// lists the model are skipped), then connected peers whose cached record lists it. It returns when the DHT
// search ends, limit is reached, or ctx ends; in the last case it returns what it found, and ctx's error
// only if it found nothing.
func (h *Host) FindProviders(ctx context.Context, model string, limit int) ([]PeerRecord, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		mu    sync.Mutex
		found []PeerRecord
		seen  = map[peer.ID]bool{h.ID(): true}
	)
	full := func() bool { return limit > 0 && len(found) >= limit }
	add := func(r PeerRecord) {
		mu.Lock()
		defer mu.Unlock()
		if !full() {
			found = append(found, r)
		}
		if full() {
			cancel()
		}
	}

	ids := make(chan peer.ID)
	var workers sync.WaitGroup
	for range lookupWorkers {
		workers.Go(func() {
			for id := range ids {
				r, err := h.Lookup(ctx, id)
				if err != nil {
					h.log.Debug("provider record lookup", "peer", id, "model", model, "err", err)
					continue
				}
				if r.Serves(model) {
					add(r)
				}
			}
		})
	}
	providers := h.dht.FindProvidersAsync(ctx, ModelCID(model), 0)
feed:
	for {
		select {
		case ai, ok := <-providers:
			if !ok {
				break feed
			}
			if seen[ai.ID] {
				continue
			}
			seen[ai.ID] = true
			select {
			case ids <- ai.ID:
			case <-ctx.Done():
				break feed
			}
		case <-ctx.Done():
			break feed
		}
	}
	close(ids)
	workers.Wait()

	// Peers met on the LAN or connected for other reasons may be missing from the DHT's provider records
	// (e.g. their provide has not reached us yet); their cached record still says what they serve.
	for _, id := range h.host.Network().Peers() {
		if seen[id] || full() {
			continue
		}
		if r, ok, _ := h.cached(id); ok && r.Serves(model) {
			seen[id] = true
			found = append(found, r)
		}
	}
	if len(found) == 0 && ctx.Err() != nil {
		// cancel() runs only when limit is reached, which needs a result: this is the caller's ctx.
		return nil, fmt.Errorf("find providers of %s: %w", model, context.Cause(ctx))
	}
	if found == nil {
		found = []PeerRecord{}
	}
	return found, nil
}

// PeerCount is how many peers the host is connected to now (no lookups).
func (h *Host) PeerCount() int { return len(h.host.Network().Peers()) }

// Peers lists the connected peers with their records and latency. A peer's record is looked up again (within
// ctx) when the last lookup is older than a minute, or 5 s when it found none; otherwise the cached one is used.
func (h *Host) Peers(ctx context.Context) []PeerInfo {
	ids := h.host.Network().Peers()
	out := make([]PeerInfo, len(ids))
	var wg sync.WaitGroup
	sem := make(chan struct{}, lookupWorkers)
	for i, id := range ids {
		out[i].ID = id
		if conns := h.host.Network().ConnsToPeer(id); len(conns) > 0 {
			out[i].Addr = conns[0].RemoteMultiaddr().String()
		}
		r, ok, fresh := h.cached(id)
		if ok {
			out[i].Record = &r
		}
		out[i].Latency = h.host.Peerstore().LatencyEWMA(id)
		if fresh && out[i].Latency > 0 {
			continue
		}
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				return
			}
			if !fresh {
				if r, err := h.Lookup(ctx, id); err == nil {
					out[i].Record = &r
				} else if ctx.Err() == nil {
					h.rememberMiss(id)
				}
			}
			if out[i].Latency == 0 {
				pctx, cancel := context.WithCancel(ctx)
				defer cancel()
				select {
				case res := <-ping.Ping(pctx, h.host, id):
					if res.Error == nil {
						out[i].Latency = res.RTT
					}
				case <-ctx.Done():
				}
			}
		})
	}
	wg.Wait()
	return out
}

// Close stops the republisher, mDNS, the DHT and the host. It is idempotent.
func (h *Host) Close() error {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		h.closed = true
		h.mu.Unlock()
		h.cancel()
		var errs []error
		if h.mdns != nil {
			errs = append(errs, h.mdns.Close())
		}
		h.wg.Wait()
		errs = append(errs, h.dht.Close(), h.host.Close())
		h.closeErr = errors.Join(errs...)
	})
	return h.closeErr
}

// mdnsNotifee dials peers found on the LAN and fetches their records into the cache.
type mdnsNotifee struct{ h *Host }

// HandlePeerFound is called by the mDNS service on its own goroutine, possibly after Close started; the
// closed flag and wg make Close wait for dials already under way and refuse new ones.
func (n mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	h := n.h
	if ai.ID == h.ID() {
		return
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()
	defer h.wg.Done()

	if h.host.Network().Connectedness(ai.ID) == network.Connected {
		return
	}
	ctx, cancel := context.WithTimeout(h.ctx, mdnsDialTimeout)
	defer cancel()
	if err := h.host.Connect(ctx, ai); err != nil {
		h.log.Debug("mdns peer unreachable", "peer", ai.ID, "err", err)
		return
	}
	h.log.Info("mdns peer connected", "peer", ai.ID)
	if _, err := h.Lookup(ctx, ai.ID); err != nil {
		h.log.Debug("mdns peer record", "peer", ai.ID, "err", err)
	}
}

// OnPeerChange calls f (on a libp2p goroutine; it must not block) whenever a peer
// connects or disconnects, until the host closes.
func (h *Host) OnPeerChange(f func(peer.ID)) {
	h.host.Network().Notify(&network.NotifyBundle{
		ConnectedF:    func(_ network.Network, c network.Conn) { f(c.RemotePeer()) },
		DisconnectedF: func(_ network.Network, c network.Conn) { f(c.RemotePeer()) },
	})
}
