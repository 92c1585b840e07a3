package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/p2p"
	"github.com/aria-node/aria/p2p/peerinfer"
	"github.com/aria-node/aria/p2p/peerproto"
)

// localRunner is what the router needs of the node it routes for: its own engine
// and a way to run a request on a peer.
type localRunner interface {
	servesLocally(model string) bool
	hasFreeSlot() bool
	generateLocal(ctx context.Context, req inference.Request, onToken func(inference.Token) error) (inference.Result, error)
	forward(ctx context.Context, p p2p.PeerRecord, req inference.Request, hops int, onToken func(inference.Token) error) (inference.Result, error)
}

// router decides where a request runs: locally, or on the least-loaded peer that
// provides the model, with failover and a hop limit. It owns the provider cache
// (which remembers misses) and the models recently seen served by peers.
type router struct {
	log   *slog.Logger
	local localRunner

	// Set by attach when the peer network comes up; host stays nil without it.
	host  *p2p.Host
	self  string          // this node's peer ID
	bgCtx context.Context // background work of the peer network (provider refreshes)
	bg    *sync.WaitGroup // owned by the node, which waits for it on shutdown

	mu         sync.Mutex
	cache      map[string]providerEntry
	peerModels map[string]time.Time // models last seen served by a peer (under mu); see servedByPeersRecently
	lookups    atomic.Int64         // DHT provider lookups made (tests)
}

func newRouter(local localRunner, log *slog.Logger) *router {
	return &router{local: local, log: log}
}

// attach connects the router to the peer network.
func (r *router) attach(h *p2p.Host, self string, bgCtx context.Context, bg *sync.WaitGroup) {
	r.host, r.self, r.bgCtx, r.bg = h, self, bgCtx, bg
}

// route picks where req runs. hops is how many nodes forwarded it already.
//
// Local first when this node serves the model and has a free slot (or cannot reach
// anyone else). Otherwise peers are tried in order of load; a peer that fails before
// its first token is skipped for the next, one that fails after it ends the request
// with an error (the client already has part of the answer). When every peer fails,
// a node that serves the model queues the request locally.
func (r *router) route(ctx context.Context, req inference.Request, hops int, onToken func(inference.Token) error) (inference.Result, error) {
	local := r.local.servesLocally(req.Model)
	if local && (r.local.hasFreeSlot() || r.host == nil || hops >= MaxHops) {
		return r.local.generateLocal(ctx, req, onToken)
	}
	var peers []p2p.PeerRecord
	if r.host != nil && hops < MaxHops {
		peers = r.candidates(ctx, req.Model)
	}
	if len(peers) == 0 {
		if local {
			return r.local.generateLocal(ctx, req, onToken)
		}
		if hops >= MaxHops && r.host != nil {
			return inference.Result{}, &peerproto.Error{Code: "hop_limit", Message: fmt.Sprintf("model %q is not served here and the request was already forwarded %d times", req.Model, hops)}
		}
		if r.servedByPeersRecently(req.Model) {
			return inference.Result{}, fmt.Errorf("%w: model %q is served only by peers, and none of them can be reached now", inference.ErrUnreachable, req.Model)
		}
		return inference.Result{}, fmt.Errorf("%w: %q is not loaded here and no peer provides it", inference.ErrModelNotFound, req.Model)
	}
	var lastErr error
	for _, p := range peers {
		res, err := r.local.forward(ctx, p, req, hops+1, onToken)
		if err == nil {
			return res, nil
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		var lost *peerproto.ConnLostError
		if errors.As(err, &lost) && lost.AfterFirstToken {
			r.forgetProviders(req.Model)
			return res, fmt.Errorf("peer %s failed mid-answer: %w", shortID(p.PeerID), err)
		}
		r.log.Info("peer did not serve the request; trying the next", "peer", p.PeerID, "model", req.Model, "err", err)
		r.forgetProviders(req.Model)
		lastErr = err
	}
	if local {
		return r.local.generateLocal(ctx, req, onToken)
	}
	var pe *peerproto.Error
	if !errors.As(lastErr, &pe) {
		// No provider answered at all (dial or connection failures): they are down, not refusing.
		return inference.Result{}, fmt.Errorf("%w: no provider of model %q could be reached: %w", inference.ErrUnreachable, req.Model, lastErr)
	}
	return inference.Result{}, peerinfer.FromError(fmt.Errorf("no peer could serve %q: %w", req.Model, lastErr))
}

// peerModelMemory is how long a model served by a peer is remembered: while its providers are down, a
// request for it is answered "providers unreachable" (503, Retry-After) rather than "model not found".
const peerModelMemory = 10 * time.Minute

// sawPeerModel notes that a peer provides model.
func (r *router) sawPeerModel(model string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.peerModels == nil {
		r.peerModels = map[string]time.Time{}
	}
	now := time.Now()
	r.peerModels[model] = now
	if len(r.peerModels) > 1024 {
		for m, at := range r.peerModels {
			if now.Sub(at) > peerModelMemory {
				delete(r.peerModels, m)
			}
		}
	}
}

// recentPeerModels are the models a peer provided within peerModelMemory, sorted.
func (r *router) recentPeerModels() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for m, at := range r.peerModels {
		if time.Since(at) < peerModelMemory {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

// servedByPeersRecently reports whether a peer provided model within peerModelMemory.
func (r *router) servedByPeersRecently(model string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.peerModels[model]
	return ok && time.Since(at) < peerModelMemory
}

// providerTTL is how long a provider lookup is reused: a DHT walk costs tens to
// hundreds of milliseconds, which a request must not pay every time.
const providerTTL = 5 * time.Second

// missTTL is how long "no provider" is remembered: an unserved model must not re-walk
// the DHT (up to 3 s) on every request. Peer connections and disconnections void the
// cache, so a provider that joins is found at once.
const missTTL = 5 * time.Second

type providerEntry struct {
	recs       []p2p.PeerRecord
	at         time.Time
	refreshing bool
}

// providers returns the providers of model. A cached lookup is answered at once;
// when it is older than providerTTL it is refreshed in the background for the next
// request (stale-while-revalidate), so no request waits on the DHT after the first.
func (r *router) providers(ctx context.Context, model string) []p2p.PeerRecord {
	r.mu.Lock()
	e, ok := r.cache[model]
	refresh := ok && time.Since(e.at) >= providerTTL && !e.refreshing
	if refresh {
		e.refreshing = true
		r.cache[model] = e
	}
	r.mu.Unlock()
	if ok && len(e.recs) == 0 && time.Since(e.at) < missTTL {
		return nil
	}
	if ok && len(e.recs) > 0 {
		if refresh {
			r.bg.Add(1)
			go func() {
				defer r.bg.Done()
				r.lookupProviders(r.bgCtx, model)
			}()
		}
		return e.recs
	}
	return r.lookupProviders(ctx, model)
}

// lookupProviders asks the DHT and caches the answer.
func (r *router) lookupProviders(ctx context.Context, model string) []p2p.PeerRecord {
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	r.lookups.Add(1)
	recs, err := r.host.FindProviders(lctx, model, 16)
	if err != nil {
		r.log.Debug("provider lookup", "model", model, "err", err)
	}
	r.mu.Lock()
	if r.cache == nil {
		r.cache = map[string]providerEntry{}
	}
	r.cache[model] = providerEntry{recs: recs, at: time.Now()}
	r.mu.Unlock()
	return recs
}

// voidProviders drops every cached lookup (a peer connected or left).
func (r *router) voidProviders() {
	r.mu.Lock()
	clear(r.cache)
	r.mu.Unlock()
}

// forgetProviders drops the cached lookup of model (a provider failed).
func (r *router) forgetProviders(model string) {
	r.mu.Lock()
	delete(r.cache, model)
	r.mu.Unlock()
}

// candidates are the peers that provide model and accept work, least loaded first.
func (r *router) candidates(ctx context.Context, model string) []p2p.PeerRecord {
	recs := r.providers(ctx, model)
	self := r.self
	var out []p2p.PeerRecord
	for _, rec := range recs {
		if rec.PeerID == self || !rec.Accepting || rec.WSURL == "" || !slices.Contains(rec.Models, model) {
			continue
		}
		out = append(out, rec)
	}
	if len(out) > 0 {
		r.sawPeerModel(model)
	}
	slices.SortStableFunc(out, func(a, b p2p.PeerRecord) int {
		switch {
		case a.Load < b.Load:
			return -1
		case a.Load > b.Load:
			return 1
		}
		return 0
	})
	return out
}
