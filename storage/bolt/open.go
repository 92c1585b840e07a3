package bolt

// Safe opening of the node's database. bbolt maps the file and trusts it: a
// truncated file faults in the first read (SIGSEGV), a damaged page trips an
// assertion panic, and a 0-byte file is silently initialised as an empty database.
// Open checks the file's structure with plain reads before bbolt sees it, refuses a
// damaged file with what to do about it, never replaces an existing file, and turns
// panics from bbolt into errors.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// ErrDamaged means the database file is not a whole bbolt database.
var ErrDamaged = errors.New("database file is damaged")

// ErrLocked means another process holds the database open.
var ErrLocked = errors.New("database is locked: another aria node (or process) is using it")

// The on-disk format of bbolt 1.x (little-endian, version 2).
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16
	elemSize       = 16 // branch and leaf page elements are both 16 bytes
	metaSize       = 64
	branchFlag     = 0x01
	leafFlag       = 0x02
	metaFlag       = 0x04
	freelistFlag   = 0x10
	bucketLeafFlag = 0x01
	noFreelist     = ^uint64(0)
	maxDepth       = 64 // of nested buckets and b+tree levels together
)

// Open opens (or creates, when path does not exist) a bbolt database after
// checking its file. The check reads the meta pages, the size the meta promises,
// and every page reachable from the root and the freelist; bbolt's own consistency
// check then runs on the opened database. A damaged file is refused with ErrDamaged
// and recovery advice, and left as it is. ctx bounds the wait for another
// process's lock (2 s without a deadline) and cancels the check.
func Open(ctx context.Context, path string) (db *bbolt.DB, err error) {
	// A fault in mapped memory becomes a panic (recovered below), not a crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			if db != nil {
				_ = db.Close()
			}
			db, err = nil, damaged(path, fmt.Sprintf("bbolt panicked: %v", p))
		}
	}()
	fi, statErr := os.Stat(path)
	switch {
	case errors.Is(statErr, os.ErrNotExist):
		// The only case where a file is created.
	case statErr != nil:
		return nil, fmt.Errorf("database %s: %w", path, statErr)
	case fi.IsDir():
		return nil, fmt.Errorf("database %s is a directory", path)
	default:
		if err := checkLocked(ctx, path); err != nil {
			return nil, err
		}
	}
	db, err = bbolt.Open(path, 0o600, &bbolt.Options{Timeout: timeoutOf(ctx), OpenFile: openExisting(statErr == nil)})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("database %s: %w (stop it or pass another --data-dir than %s)", path, ErrLocked, filepath.Dir(path))
	}
	if err != nil {
		if statErr == nil {
			return nil, damaged(path, err.Error())
		}
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	if statErr == nil {
		if err := consistent(ctx, db); err != nil {
			_ = db.Close()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, damaged(path, err.Error())
		}
	}
	return db, nil
}

// openExisting makes bbolt's open of a file that existed at the check fail rather
// than create a new one should it vanish in between.
func openExisting(existed bool) func(string, int, os.FileMode) (*os.File, error) {
	return func(name string, flag int, perm os.FileMode) (*os.File, error) {
		if existed {
			flag &^= os.O_CREATE
		}
		return os.OpenFile(name, flag, perm)
	}
}

func timeoutOf(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		if t := time.Until(d); t > 0 {
			return t
		}
		return time.Millisecond
	}
	return 2 * time.Second
}

// checkLocked takes bbolt's lock (flock on the file) while the file is checked,
// so a database another node is writing is reported as locked, not as damaged.
func checkLocked(ctx context.Context, path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("database %s: %w", path, err)
	}
	defer f.Close()
	deadline := time.Now().Add(timeoutOf(ctx))
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if err != syscall.EWOULDBLOCK || time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("database %s: %w (stop it or pass another --data-dir than %s)", path, ErrLocked, filepath.Dir(path))
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("database %s: %w", path, err)
	}
	if err := Check(ctx, f, fi.Size()); err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return damaged(path, err.Error())
	}
	return nil
}

func damaged(path, why string) error {
	return fmt.Errorf("%w: %s: %s. The node will not start on it and has not changed it. "+
		"To recover: stop the node, move the file aside (mv %s %s.damaged) and start again with an empty database, "+
		"or restore a backup copy of %s", ErrDamaged, path, why, path, path, filepath.Base(path))
}

// consistent runs bbolt's own check (every page reached once, none both free and
// used) in a read transaction.
func consistent(ctx context.Context, db *bbolt.DB) error {
	return db.View(func(tx *bbolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			if len(errs) < 5 {
				errs = append(errs, err)
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return errors.Join(errs...)
	})
}

type meta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	hwm      uint64 // pages in use: the file must hold them all
	txid     uint64
}

func parseMeta(b []byte) (meta, error) {
	if len(b) < pageHeaderSize+metaSize {
		return meta{}, errors.New("file too short for a meta page")
	}
	le := binary.LittleEndian
	if flags := le.Uint16(b[8:]); flags&metaFlag == 0 {
		return meta{}, fmt.Errorf("page is not a meta page (flags %#x)", flags)
	}
	m := b[pageHeaderSize:]
	if le.Uint32(m[0:]) != boltMagic {
		return meta{}, errors.New("not a bbolt database (bad magic number)")
	}
	if v := le.Uint32(m[4:]); v != boltVersion {
		return meta{}, fmt.Errorf("bbolt format version %d, want %d", v, boltVersion)
	}
	h := fnv.New64a()
	h.Write(m[:56])
	if h.Sum64() != le.Uint64(m[56:]) {
		return meta{}, errors.New("meta page checksum mismatch")
	}
	mt := meta{pageSize: le.Uint32(m[8:]), root: le.Uint64(m[16:]), freelist: le.Uint64(m[32:]), hwm: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}
	if mt.pageSize < 512 || mt.pageSize > 1<<20 || mt.pageSize&(mt.pageSize-1) != 0 {
		return meta{}, fmt.Errorf("page size %d is not a power of two in 512..1MiB", mt.pageSize)
	}
	if mt.hwm < 4 || mt.root < 2 || mt.root >= mt.hwm || (mt.freelist != noFreelist && (mt.freelist < 2 || mt.freelist >= mt.hwm)) {
		return meta{}, fmt.Errorf("meta page points outside the file (root %d, freelist %d, pages %d)", mt.root, mt.freelist, mt.hwm)
	}
	return mt, nil
}

// Check verifies a bbolt file's structure with plain reads: a valid meta page (the
// newer of the two, as bbolt picks), a size that holds every page the meta counts,
// and every page reachable from the root bucket and the freelist in bounds, of the
// right kind, and reached once. It never maps the file, so no damage can fault it.
func Check(ctx context.Context, r io.ReaderAt, size int64) error {
	if size == 0 {
		return errors.New("the file is empty (0 bytes): it holds no database, not even an empty one")
	}
	head := make([]byte, pageHeaderSize+metaSize)
	if _, err := r.ReadAt(head, 0); err != nil {
		return fmt.Errorf("file too short for a database (%d bytes)", size)
	}
	m0, err0 := parseMeta(head)
	pageSize := int64(4096)
	if err0 == nil {
		pageSize = int64(m0.pageSize)
	}
	var m1 meta
	err1 := errors.New("second meta page unreadable")
	if _, err := r.ReadAt(head, pageSize); err == nil {
		m1, err1 = parseMeta(head)
	}
	var m meta
	switch {
	case err0 == nil && err1 == nil:
		if m0.pageSize != m1.pageSize {
			return fmt.Errorf("the meta pages disagree on the page size (%d, %d)", m0.pageSize, m1.pageSize)
		}
		m = m0
		if m1.txid > m0.txid {
			m = m1
		}
	case err0 == nil:
		m = m0
	case err1 == nil:
		m = m1
	default:
		return fmt.Errorf("both meta pages are invalid: %v; %v", err0, err1)
	}
	ps := int64(m.pageSize)
	if need := int64(m.hwm) * ps; m.hwm > uint64(size/ps) || size < need {
		return fmt.Errorf("the file is truncated: %d bytes, its meta page counts %d pages of %d bytes (%d bytes)", size, m.hwm, ps, int64(m.hwm)*ps)
	}
	w := walker{ctx: ctx, r: r, ps: ps, hwm: m.hwm, seen: make(map[uint64]bool)}
	if m.freelist != noFreelist {
		if err := w.freelist(m.freelist); err != nil {
			return err
		}
	}
	return w.tree(m.root, 0)
}

type walker struct {
	ctx  context.Context
	r    io.ReaderAt
	ps   int64
	hwm  uint64
	seen map[uint64]bool
	n    int
}

// page reads page id with its overflow pages, after checking they are in bounds
// and not reached before.
func (w *walker) page(id uint64) ([]byte, error) {
	if w.n++; w.n%1024 == 0 {
		if err := w.ctx.Err(); err != nil {
			return nil, err
		}
	}
	if id < 2 || id >= w.hwm {
		return nil, fmt.Errorf("page %d is out of bounds (pages 2..%d)", id, w.hwm-1)
	}
	if w.seen[id] {
		return nil, fmt.Errorf("page %d is reached twice", id)
	}
	hdr := make([]byte, pageHeaderSize)
	if _, err := w.r.ReadAt(hdr, int64(id)*w.ps); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	if got := binary.LittleEndian.Uint64(hdr); got != id {
		return nil, fmt.Errorf("page %d has id %d", id, got)
	}
	overflow := uint64(binary.LittleEndian.Uint32(hdr[12:]))
	if overflow >= w.hwm-id {
		return nil, fmt.Errorf("page %d overflows past the end (%d more pages)", id, overflow)
	}
	for i := id; i <= id+overflow; i++ {
		if w.seen[i] {
			return nil, fmt.Errorf("page %d is reached twice", i)
		}
		w.seen[i] = true
	}
	buf := make([]byte, int64(overflow+1)*w.ps)
	if _, err := w.r.ReadAt(buf, int64(id)*w.ps); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	return buf, nil
}

func (w *walker) freelist(id uint64) error {
	b, err := w.page(id)
	if err != nil {
		return fmt.Errorf("freelist: %w", err)
	}
	le := binary.LittleEndian
	if le.Uint16(b[8:])&freelistFlag == 0 {
		return fmt.Errorf("freelist page %d is not a freelist page (flags %#x)", id, le.Uint16(b[8:]))
	}
	start, count := pageHeaderSize, uint64(le.Uint16(b[10:]))
	if count == 0xFFFF {
		count = le.Uint64(b[pageHeaderSize:])
		start += 8
	}
	if count > uint64(len(b)-start)/8 {
		return fmt.Errorf("freelist page %d claims %d entries, more than it holds", id, count)
	}
	for i := uint64(0); i < count; i++ {
		if p := le.Uint64(b[start+int(i)*8:]); p < 2 || p >= w.hwm {
			return fmt.Errorf("freelist page %d lists page %d, outside the file", id, p)
		}
	}
	return nil
}

// tree checks the b+tree rooted at page id.
func (w *walker) tree(id uint64, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("page %d: tree deeper than %d levels", id, maxDepth)
	}
	b, err := w.page(id)
	if err != nil {
		return err
	}
	return w.node(b, id, depth)
}

// node checks one page (b may be an inline bucket's page inside a value) and
// descends into its children and sub-buckets.
func (w *walker) node(b []byte, id uint64, depth int) error {
	le := binary.LittleEndian
	if len(b) < pageHeaderSize {
		return fmt.Errorf("page %d: too short", id)
	}
	flags, count := le.Uint16(b[8:]), int(le.Uint16(b[10:]))
	if pageHeaderSize+count*elemSize > len(b) {
		return fmt.Errorf("page %d: %d elements do not fit", id, count)
	}
	for i := range count {
		off := pageHeaderSize + i*elemSize
		e := b[off : off+elemSize]
		switch {
		case flags&branchFlag != 0:
			pos, ksize, child := uint64(le.Uint32(e[0:])), uint64(le.Uint32(e[4:])), le.Uint64(e[8:])
			if uint64(off)+pos+ksize > uint64(len(b)) {
				return fmt.Errorf("page %d: element %d's key lies outside the page", id, i)
			}
			if err := w.tree(child, depth+1); err != nil {
				return err
			}
		case flags&leafFlag != 0:
			eflags, pos, ksize, vsize := le.Uint32(e[0:]), uint64(le.Uint32(e[4:])), uint64(le.Uint32(e[8:])), uint64(le.Uint32(e[12:]))
			end := uint64(off) + pos + ksize + vsize
			if end > uint64(len(b)) {
				return fmt.Errorf("page %d: element %d's key or value lies outside the page", id, i)
			}
			if eflags&bucketLeafFlag == 0 {
				continue
			}
			v := b[uint64(off)+pos+ksize : end]
			if len(v) < 16 {
				return fmt.Errorf("page %d: element %d is a bucket with a %d-byte header", id, i, len(v))
			}
			if root := le.Uint64(v); root != 0 {
				if err := w.tree(root, depth+1); err != nil {
					return err
				}
			} else if depth+1 > maxDepth {
				return fmt.Errorf("page %d: buckets nested deeper than %d", id, maxDepth)
			} else if len(v) < 16+pageHeaderSize || le.Uint16(v[16+8:])&leafFlag == 0 {
				return fmt.Errorf("page %d: element %d is an inline bucket without a leaf page", id, i)
			} else if err := w.node(v[16:], id, depth+1); err != nil {
				return fmt.Errorf("inline bucket in page %d: %w", id, err)
			}
		default:
			return fmt.Errorf("page %d is neither a branch nor a leaf page (flags %#x)", id, flags)
		}
	}
	if flags&(branchFlag|leafFlag) == 0 {
		return fmt.Errorf("page %d is neither a branch nor a leaf page (flags %#x)", id, flags)
	}
	return nil
}
