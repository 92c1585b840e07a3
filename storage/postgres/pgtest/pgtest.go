// Package pgtest starts a throwaway PostgreSQL cluster (Debian's package, found under
// /usr/lib/postgresql) on a loopback port in a temp dir for tests, one per test binary,
// and gives each test its own database. The server stops when the test binary exits,
// even when it crashes: it is tied to a pipe from this process.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNotInstalled means no PostgreSQL server binaries are installed (make deps installs
// Debian's postgresql package).
var ErrNotInstalled = errors.New("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb; `make deps` installs Debian's postgresql package)")

type cluster struct {
	dir   string
	port  int
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
}

var (
	once    sync.Once
	running *cluster
	failure error
	dbSeq   atomic.Int64
)

func binDir() (string, error) {
	if d := os.Getenv("ARIA_PG_BIN"); d != "" {
		return d, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(found) == 0 {
		return "", ErrNotInstalled
	}
	sort.Slice(found, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(found[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(found[j]))))
		return vi > vj
	})
	return filepath.Dir(found[0]), nil
}

// asServerUser runs a command as the postgres user when this process is root (the
// server refuses to run as root).
func asServerUser(root bool, name string, args ...string) *exec.Cmd {
	if !root {
		return exec.Command(name, args...)
	}
	return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func start() (*cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	root := os.Geteuid() == 0
	dir, err := os.MkdirTemp("", "aria-pg-")
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*cluster, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	if root {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fail(fmt.Errorf("running as root needs the postgres user (from Debian's package): %w", err))
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return fail(err)
		}
	}
	data := filepath.Join(dir, "data")
	out, err := asServerUser(root, filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "aria", "-E", "UTF8", "--no-sync").CombinedOutput()
	if err != nil {
		return fail(fmt.Errorf("initdb: %v: %s", err, out))
	}
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	// The shell stops the server when our end of its stdin closes: at Stop, or when this
	// process dies for any reason.
	script := fmt.Sprintf(`"$0" -D "$1" -p %d -h 127.0.0.1 -k "$2" -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 >"$2/server.log" 2>&1 &
pid=$!
read _ignored
kill -INT $pid
wait $pid`, port)
	cmd := asServerUser(root, "sh", "-c", script, filepath.Join(bin, "postgres"), data, dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fail(err)
	}
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	c := &cluster{dir: dir, port: port, cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go func() { cmd.Wait(); close(c.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, c.url("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return c, nil
		}
		select {
		case <-c.done:
			log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			return fail(fmt.Errorf("postgres exited: %s", log))
		default:
		}
		if time.Now().After(deadline) {
			c.stop()
			log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			return nil, fmt.Errorf("postgres did not accept connections in 30 s: %v: %s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *cluster) url(db string) string {
	return fmt.Sprintf("postgres://aria@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

func (c *cluster) stop() {
	c.stdin.Close()
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
	os.RemoveAll(c.dir)
}

// URL starts the cluster (once per test binary) and returns the URL of a new, empty
// database. It skips the test only when PostgreSQL is not installed.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(func() { running, failure = start() })
	if errors.Is(failure, ErrNotInstalled) {
		t.Skip(failure.Error())
	}
	if failure != nil {
		t.Fatalf("PostgreSQL test cluster: %v", failure)
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, running.url("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	return running.url(name)
}

// Main runs the tests and stops the cluster: TestMain(m) { os.Exit(pgtest.Main(m)) }.
func Main(m *testing.M) int {
	code := m.Run()
	if running != nil {
		running.stop()
	}
	return code
}

// Port is the running cluster's port (0 before URL).
func Port() int {
	if running == nil {
		return 0
	}
	return running.port
}
