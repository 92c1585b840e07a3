// Package p2p owns the node's libp2p side: the host (persistent identity, TCP+QUIC), the Kademlia DHT
// (/aria prefix, server mode), mDNS, signed peer records and model provider records; it runs no models.
package p2p
