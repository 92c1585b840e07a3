// Package peerproto is the ARIA WebSocket peer protocol: envelope, frames, server and client, peer authentication.
// It runs no models: a Handler supplied by the node does.
//
// # Wire
//
// Every message is one JSON text frame, an envelope:
//
//	{"type": "...", "request_id": "...", "sender_id": "...", "data": {...}, "timestamp": 1767225600.25, "protocol": "aria/0.1"}
//
// timestamp is unix seconds; sender_id is the sender's peer ID ("" for a bare
// client). Only type is required from clients: the spec's JS example sends
// {type, request_id, data} and works. Replies carry the request's request_id;
// a request without one gets a server-made "srv-N".
//
// The server speaks first: welcome {nonce, peer_id, version, protocol}, nonce
// being base64 of 32 random bytes fresh per connection.
//
// Requests and replies (client → server, then server → client):
//
//   - inference_request {query | messages [{role, content}], model_id, max_tokens,
//     temperature, top_p, top_k, stop, seed, stream, hops, task_type} →
//     zero or more inference_chunk {text} (only with stream: true), then exactly
//     one terminal inference_response {output, model_id, finish_reason,
//     usage {prompt_tokens, completion_tokens, total_tokens}, node_id} or error.
//   - embed_request {model_id, input [strings] | tokens [[ids]], hops} →
//     embed_response {model_id, embeddings [[floats]], usage, node_id} or error.
//   - cancel (request_id of a running inference) → that request ends with error
//     {code: "cancelled"}.
//   - get_stats → stats {...}; get_peers → peers_list {peers: [...]}; ping → pong
//     (data echoed).
//   - hello {peer_id, signature, public_key} → hello_ack {peer_id} or error
//     {code: "unauthorized"}.
//   - error {code, message, reason?}: the request's request_id, or "" for a frame
//     that could not be read. Errors received by a server are never answered.
//
// Error codes: invalid_request, model_not_found, busy, refused (with reason),
// hop_limit, internal, unauthorized, frame_too_large, malformed,
// too_many_requests, shutting_down, unknown_type, cancelled.
//
// # Peer authentication
//
// A connection is a plain client until it sends a hello whose public_key
// (base64 of crypto.MarshalPublicKey) belongs to peer_id and whose signature
// (base64) verifies over HelloPayload: "aria/0.1 hello\n" + the server's
// peer ID + "\n" + the raw nonce bytes. Binding the server's ID stops a relay of
// one server's nonce through another. A verified hello makes the connection a
// peer link: Origin.PeerID carries the verified ID to the Handler for every
// later request. A refused hello leaves the connection open as a plain client.
//
// # Limits
//
// Frames above MaxFrameBytes (1 MiB) get error frame_too_large and close 1009;
// bad JSON, a missing type or a binary frame get error malformed and the
// connection stays open. More than MaxInFlight (4) concurrent inference requests
// per connection get too_many_requests. A connection silent for ReadTimeout
// (60s) is closed; any frame, WebSocket pings included, keeps it alive, and the
// server pings while it has requests running. Shutdown refuses new work with
// shutting_down, lets running requests finish, then closes with 1001.
package peerproto
