package node

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/aria-node/aria/consent"
	"github.com/aria-node/aria/models"
	"github.com/aria-node/aria/p2p"
)

// serveModelFiles lets peers fetch the verified model files of the data dir's store
// over models.FileProtocol, through the consent contract's bandwidth limiter, and
// announces each file's content CID in the DHT. Files pulled while the node runs are
// announced at its next start.
func (n *Node) serveModelFiles(lim *consent.Limiter) {
	store := models.Store{Dir: ModelsDir(n.cfg.DataDir)}
	srv := &models.PeerServer{Store: store, Log: n.log}
	if lim != nil {
		srv.Limit = lim.Writer
	}
	n.host.LibP2P().SetStreamHandler(models.FileProtocol, srv.Handle)
	blobs, err := store.Blobs()
	if err != nil || len(blobs) == 0 {
		return
	}
	n.bg.Add(1)
	go func() {
		defer n.bg.Done()
		// A lone node has nobody to store its provider records yet: retry failed
		// announcements with a growing delay, and renew them all well before the DHT's
		// records expire (48 h).
		pending := blobs
		wait := time.Second
		for {
			var failed []string
			for _, sha := range pending {
				ctx, cancel := context.WithTimeout(n.bgCtx, time.Minute)
				err := n.host.ProvideContent(ctx, sha)
				cancel()
				if n.bgCtx.Err() != nil {
					return
				}
				if err != nil {
					n.log.Debug("announcing a model file", "sha256", sha, "err", err)
					failed = append(failed, sha)
					continue
				}
				n.log.Info("announced a model file to the network", "sha256", sha)
			}
			next := 12 * time.Hour
			pending = blobs
			if len(failed) > 0 {
				pending, next = failed, wait
				wait = min(2*wait, time.Minute)
			}
			select {
			case <-n.bgCtx.Done():
				return
			case <-time.After(next):
			}
		}
	}()
}

// ModelPeers starts a short-lived libp2p host (a fresh identity, so it never clashes
// with a node running from the same data dir) that joins the network through pc's
// bootstrap peers and mDNS, to fetch model files from peers. Call stop when done.
func ModelPeers(ctx context.Context, pc PeerConfig, log *slog.Logger) (f models.PeerFetcher, stop func() error, err error) {
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, nil, err
	}
	listen := pc.ListenP2P
	if len(listen) == 0 {
		listen = []string{"/ip4/0.0.0.0/tcp/0"}
	}
	h, err := p2p.New(ctx, p2p.Config{Key: key, ListenAddrs: listen, Bootstrap: pc.Bootstrap, MDNS: !pc.NoMDNS,
		MDNSService: pc.MDNSService, Logger: log})
	if err != nil {
		return nil, nil, fmt.Errorf("libp2p: %w", err)
	}
	return &models.PeerClient{Host: h.LibP2P(), Find: h.FindContent, Log: log}, h.Close, nil
}
