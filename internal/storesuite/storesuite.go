// Package storesuite is the frame of the shared store suites (tenancy, rag and agents
// storetest): each case runs as a subtest on a fresh store, with the suites' helpers.
package storesuite

import (
	"errors"
	"testing"
	"time"
)

// Case is one test of a suite, run on a fresh store S.
type Case[S any] struct {
	Name string
	Fn   func(t *testing.T, s S)
}

// Run runs each case as a subtest named for it, on a store that open makes for it.
func Run[S any](t *testing.T, open func(t *testing.T) S, cases []Case[S]) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) { c.Fn(t, open(t)) })
	}
}

// T0 is the suites' fixed clock: stored times are compared against it.
var T0 = time.Date(2026, 3, 13, 10, 0, 0, 0, time.UTC)

// Must fails the test on err.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// WantErr fails the test unless err is (or wraps) want.
func WantErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}
