package rag_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aria-node/aria/rag"
	"github.com/aria-node/aria/storage/bolt"
)

const childEnv = "ARIA_RAG_KILL_CHILD_DB"

// killDoc is the i-th document the child ingests: 400 sentences, so a transaction long enough to be killed inside.
func killDoc(i int) string {
	var b strings.Builder
	for s := range 400 {
		fmt.Fprintf(&b, "Document %d sentence %d talks about topic%d and subject%d. ", i, s, s%7, (i+s)%11)
	}
	return b.String()
}

// runIngestChild ingests documents into the database until killed, printing
// "ack <document id> <chunks>" after each acknowledged ingest.
func runIngestChild(path string) {
	db, err := bolt.Open(context.Background(), path)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	st, err := bolt.NewRAGStore(db)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	s := rag.New(st, rag.Options{})
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		r, err := s.Ingest(context.Background(), "tenant", rag.IngestRequest{Collection: "durable", Content: killDoc(i), Strategy: "sentence"})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Printf("ack %s %d\n", r.DocumentID, len(r.ChunkIDs))
	}
	os.Exit(0)
}

// A real child process ingests while it is killed with SIGKILL; reopened, the
// database holds every acknowledged document whole, and no part of an unacknowledged
// one.
func TestKill9DuringIngest(t *testing.T) {
	if path := os.Getenv(childEnv); path != "" {
		runIngestChild(path)
		return
	}
	path := filepath.Join(t.TempDir(), "aria.db")
	for round, killAfter := range []int{3, 7} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKill9DuringIngest$")
		cmd.Env = append(os.Environ(), childEnv+"="+path)
		out, err := cmd.StdoutPipe()
		must(t, err)
		must(t, cmd.Start())
		acked := map[string]int{}
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 3 && f[0] == "ack" {
				var n int
				fmt.Sscan(f[2], &n)
				acked[f[1]] = n
				if len(acked) == killAfter {
					break // the child is inside the next ingest's transaction or about to be
				}
				continue
			}
			if strings.HasPrefix(sc.Text(), "error") {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("child: %s", sc.Text())
			}
		}
		must(t, cmd.Process.Signal(syscall.SIGKILL))
		cmd.Wait()
		if len(acked) < killAfter {
			t.Fatalf("round %d: the child acknowledged only %d ingests", round, len(acked))
		}

		db := openDB(t, path) // the safe open checks the whole file
		st, err := bolt.NewRAGStore(db)
		must(t, err)
		c, chunks, err := st.Load(context.Background(), "tenant", "durable")
		must(t, err)
		perDoc := map[string]int{}
		for _, ch := range chunks {
			perDoc[ch.DocumentID]++
			if len(ch.Terms) == 0 || len(ch.Vector) != c.Dim {
				t.Fatalf("chunk %s without postings or vector (%d terms, %d dims)", ch.ID, len(ch.Terms), len(ch.Vector))
			}
		}
		for id, n := range acked {
			if perDoc[id] != n {
				t.Fatalf("round %d: acknowledged document %s has %d of its %d chunks", round, id, perDoc[id], n)
			}
		}
		if c.Chunks != len(chunks) || c.Documents != len(perDoc) {
			t.Fatalf("round %d: collection says %d documents/%d chunks, holds %d/%d", round, c.Documents, c.Chunks, len(perDoc), len(chunks))
		}
		// Every document present is whole: re-ingesting it stores nothing new.
		s := rag.New(st, rag.Options{})
		for i := 0; i < len(perDoc); i++ {
			r, err := s.Ingest(context.Background(), "tenant", rag.IngestRequest{Collection: "durable", Content: killDoc(i), Strategy: "sentence"})
			must(t, err)
			if !r.Duplicate || perDoc[r.DocumentID] != len(r.ChunkIDs) {
				t.Fatalf("document %d after the kill: %+v, %d chunks stored", i, r, perDoc[r.DocumentID])
			}
		}
		t.Logf("round %d: killed after %d acknowledged ingests; %d documents, %d chunks survived", round, len(acked), len(perDoc), len(chunks))
		db.Close()
	}
}
