package p2p

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

// mdnsWait bounds how long two LAN hosts may take to find each other before the test concludes that this
// machine does not deliver multicast.
const mdnsWait = 20 * time.Second

func TestMDNSDiscovery(t *testing.T) {
	t.Parallel()
	if !hasMulticastInterface() {
		t.Skip("mDNS: no up, multicast-capable interface on this machine")
	}
	ctx := testContext(t)
	service := randomName("_aria-") + "._udp" // a private service type: parallel tests never meet
	lan := func(c *Config) { c.MDNS = true; c.MDNSService = service }
	a := newTestHost(t, ctx, lan)
	b := newTestHost(t, ctx, lan)
	if a.mdns == nil || b.mdns == nil {
		t.Skip("mDNS: the service did not start on this machine (see the host's warning)")
	}
	if err := b.Publish(ctx, PeerRecord{WSURL: "ws://b", Models: []string{"lan-model"}, Seq: 1}); err != nil {
		t.Fatal(err)
	}

	wctx, cancel := context.WithTimeout(ctx, mdnsWait)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for a.host.Network().Connectedness(b.ID()) != network.Connected || b.host.Network().Connectedness(a.ID()) != network.Connected {
		select {
		case <-wctx.Done():
			t.Skipf("mDNS: two hosts on service %s did not find each other within %s; multicast seems not to be delivered here", service, mdnsWait)
		case <-tick.C:
		}
	}

	// Once connected on the LAN, the DHT works between them too.
	waitFor(t, ctx, "A finds B's model", func() bool {
		got, err := a.FindProviders(ctx, "lan-model", 1)
		return err == nil && len(got) == 1 && got[0].PeerID == b.ID().String()
	})
}

func hasMulticastInterface() bool {
	ifs, err := net.Interfaces()
	if err != nil {
		return false
	}
	for _, i := range ifs {
		if i.Flags&net.FlagUp != 0 && i.Flags&net.FlagMulticast != 0 {
			return true
		}
	}
	return false
}
