package node

import (
	"log/slog"
	"syscall"
)

// Descriptors: the soft limit is raised to the hard one, and the peer port may use
// at most a quarter of it, so connections to it can never starve the HTTP API, the
// database or model files of descriptors.
const defaultMaxPeerConns = 256

// raiseFileLimit raises RLIMIT_NOFILE's soft limit to its hard limit and returns
// the limit in force (0 if unknown).
func raiseFileLimit(log *slog.Logger) uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	if rl.Cur < rl.Max {
		old := rl.Cur
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			log.Warn("cannot raise the open-file limit", "soft", old, "hard", rl.Max, "err", err)
			rl.Cur = old
		}
	}
	return rl.Cur
}

// peerConnCap is the total cap for the peer port: the configured one (default
// 256), at most a quarter of the file limit.
func peerConnCap(configured int, fileLimit uint64) int {
	c := configured
	if c <= 0 {
		c = defaultMaxPeerConns
	}
	if fileLimit > 0 && uint64(c) > fileLimit/4 {
		c = max(int(fileLimit/4), 1)
	}
	return c
}
