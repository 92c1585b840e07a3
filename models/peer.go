package models

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// FileProtocol is the libp2p protocol over which nodes serve the files in their
// store's blobs/ to each other. The client sends one JSON line
// {"sha256":HEX,"offset":N}; the server answers one JSON line {"size":N} (or
// {"error":MSG}) and then the file's bytes from offset to the end.
const FileProtocol = protocol.ID("/aria/model/1.0.0")

const (
	maxRequestLine = 512
	peerIOTimeout  = 30 * time.Second // no byte for this long ends a transfer
)

type fileRequest struct {
	SHA256 string `json:"sha256"`
	Offset int64  `json:"offset"`
}

type fileHeader struct {
	Size  int64  `json:"size"`
	Error string `json:"error,omitempty"`
}

// PeerServer serves a store's verified files over FileProtocol.
type PeerServer struct {
	Store Store
	// Limit wraps the stream's writer (the consent contract's bandwidth limiter);
	// nil: unlimited.
	Limit func(ctx context.Context, w io.Writer) io.Writer
	// MaxTransfers bounds concurrent transfers; default 4. More are refused.
	MaxTransfers int
	Log          *slog.Logger

	once sync.Once
	sem  chan struct{}
}

// Handle serves one stream. Register it with host.SetStreamHandler(FileProtocol, s.Handle).
func (s *PeerServer) Handle(st network.Stream) {
	defer st.Close()
	s.once.Do(func() {
		limit := s.MaxTransfers
		if limit <= 0 {
			limit = 4
		}
		s.sem = make(chan struct{}, limit)
		if s.Log == nil {
			s.Log = slog.Default()
		}
	})
	st.SetReadDeadline(time.Now().Add(peerIOTimeout))
	line, err := bufio.NewReaderSize(io.LimitReader(st, maxRequestLine), maxRequestLine).ReadSlice('\n')
	if err != nil {
		st.Reset()
		return
	}
	var req fileRequest
	fail := func(msg string) {
		st.SetWriteDeadline(time.Now().Add(peerIOTimeout))
		json.NewEncoder(st).Encode(fileHeader{Error: msg})
	}
	if err := json.Unmarshal(line, &req); err != nil || !isSHA256(req.SHA256) || req.Offset < 0 {
		fail("bad request")
		return
	}
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	default:
		fail("busy: too many transfers")
		return
	}
	f, err := os.Open(s.Store.BlobPath(req.SHA256))
	if err != nil {
		fail("not found")
		return
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || req.Offset > info.Size() {
		fail("offset beyond the end of the file")
		return
	}
	st.SetWriteDeadline(time.Now().Add(peerIOTimeout))
	if err := json.NewEncoder(st).Encode(fileHeader{Size: info.Size()}); err != nil {
		st.Reset()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var w io.Writer = deadlineWriter{st}
	if s.Limit != nil {
		w = s.Limit(ctx, w)
	}
	n, err := io.Copy(w, io.NewSectionReader(f, req.Offset, info.Size()-req.Offset))
	if err != nil {
		s.Log.Debug("model file transfer ended early", "peer", st.Conn().RemotePeer(), "sha256", req.SHA256, "sent", n, "err", err)
		st.Reset()
		return
	}
	s.Log.Info("served a model file to a peer", "peer", st.Conn().RemotePeer(), "sha256", req.SHA256, "bytes", n)
}

// deadlineWriter renews the stream's write deadline before every write, so a stalled
// reader ends the transfer.
type deadlineWriter struct{ st network.Stream }

func (d deadlineWriter) Write(p []byte) (int, error) {
	d.st.SetWriteDeadline(time.Now().Add(peerIOTimeout))
	return d.st.Write(p)
}

// PeerClient fetches files from the peers that announce them (a PeerFetcher).
type PeerClient struct {
	Host host.Host
	// Find returns peers announcing the digest (p2p.Host.FindContent).
	Find func(ctx context.Context, sha string, limit int) ([]peer.AddrInfo, error)
	// FindTimeout bounds the provider lookup; default 10s.
	FindTimeout time.Duration
	Log         *slog.Logger
}

// ErrNoPeer is returned when no peer could serve a file.
var ErrNoPeer = errors.New("no peer has the file")

// Fetch implements PeerFetcher: each provider in turn, resuming the partial file; a
// peer whose bytes do not hash to the digest is dropped (its bytes are discarded).
func (c *PeerClient) Fetch(ctx context.Context, sha string, size int64, path string, progress func(done, total int64)) (string, error) {
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	ft := c.FindTimeout
	if ft <= 0 {
		ft = 10 * time.Second
	}
	// A host that has just joined may not have its routing table yet: ask again until
	// the lookup's time is up.
	fctx, cancel := context.WithTimeout(ctx, ft)
	var providers []peer.AddrInfo
	var err error
	for {
		providers, err = c.Find(fctx, sha, 8)
		if len(providers) > 0 || fctx.Err() != nil {
			break
		}
		select {
		case <-fctx.Done():
		case <-time.After(300 * time.Millisecond):
		}
	}
	cancel()
	if len(providers) == 0 {
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			err = ErrNoPeer
		}
		return "", fmt.Errorf("find peers for sha256 %s: %w", sha, err)
	}
	var errs []string
	for _, p := range providers {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		err := c.fetchFrom(ctx, p, sha, size, path, progress)
		if err == nil {
			got, herr := fileSHA256(path)
			if herr != nil {
				return "", herr
			}
			if got == sha {
				return p.ID.String(), nil
			}
			err = fmt.Errorf("%w: its bytes hash to %s", ErrDigestMismatch, got)
			os.Remove(path)
			c.Host.Network().ClosePeer(p.ID)
		}
		log.Warn("peer could not serve the model file; dropped", "peer", p.ID, "sha256", sha, "err", err)
		errs = append(errs, p.ID.String()+": "+err.Error())
	}
	return "", fmt.Errorf("%w: %s", ErrNoPeer, strings.Join(errs, "; "))
}

func (c *PeerClient) fetchFrom(ctx context.Context, p peer.AddrInfo, sha string, size int64, path string, progress func(done, total int64)) error {
	if len(p.Addrs) > 0 {
		c.Host.Peerstore().AddAddrs(p.ID, p.Addrs, 10*time.Minute)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	have := st.Size()
	if size > 0 && have >= size {
		if have == size {
			return nil
		}
		have = 0
	}
	sctx, cancel := context.WithTimeout(ctx, peerIOTimeout)
	s, err := c.Host.NewStream(sctx, p.ID, FileProtocol)
	cancel()
	if err != nil {
		return err
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	s.SetDeadline(time.Now().Add(peerIOTimeout))
	if err := json.NewEncoder(s).Encode(fileRequest{SHA256: sha, Offset: have}); err != nil {
		return err
	}
	br := bufio.NewReader(s)
	line, err := br.ReadSlice('\n')
	if err != nil {
		return fmt.Errorf("read header: %w", err)
	}
	var h fileHeader
	if err := json.Unmarshal(line, &h); err != nil {
		return fmt.Errorf("bad header: %w", err)
	}
	switch {
	case h.Error != "":
		return errors.New(h.Error)
	case h.Size < have || (size > 0 && h.Size != size):
		return fmt.Errorf("the peer's file has %d bytes, expected %d", h.Size, size)
	}
	if err := f.Truncate(have); err != nil {
		return err
	}
	buf := make([]byte, 256<<10)
	for have < h.Size {
		s.SetReadDeadline(time.Now().Add(peerIOTimeout))
		n, rerr := br.Read(buf[:min(int64(len(buf)), h.Size-have)])
		if n > 0 {
			if _, werr := f.WriteAt(buf[:n], have); werr != nil {
				return diskError(werr, path, have)
			}
			have += int64(n)
			if progress != nil {
				progress(have, h.Size)
			}
		}
		if rerr != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("transfer interrupted after %d of %d bytes: %w", have, h.Size, rerr)
		}
	}
	return f.Sync()
}
