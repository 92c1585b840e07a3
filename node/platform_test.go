package node

import "testing"

func TestAuthRequired(t *testing.T) {
	for host, want := range map[string]bool{"127.0.0.1": false, "::1": false, "localhost": false, "127.0.0.2": false,
		"0.0.0.0": true, "": true, "192.168.1.5": true, "::": true, "example.com": true} {
		if got := AuthRequired(false, host); got != want {
			t.Errorf("AuthRequired(false, %q) = %v", host, got)
		}
	}
	if !AuthRequired(true, "127.0.0.1") {
		t.Error("--auth on loopback")
	}
}
