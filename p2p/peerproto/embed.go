package peerproto

import (
	"context"
	"encoding/json"
	"errors"
)

// Embedding messages: embed_request {model_id, input | tokens, hops} →
// embed_response {model_id, embeddings, usage, node_id} or error.
const (
	TypeEmbedRequest  = "embed_request"
	TypeEmbedResponse = "embed_response"
)

// MaxEmbedInputs bounds the inputs of one embed_request.
const MaxEmbedInputs = 2048

// EmbedRequest asks a node for embeddings of texts (Input) or token arrays (Tokens).
type EmbedRequest struct {
	ModelID string    `json:"model_id"`
	Input   []string  `json:"input,omitempty"`
	Tokens  [][]int32 `json:"tokens,omitempty"`
	Hops    int       `json:"hops,omitempty"`
}

// EmbedResponse carries one vector per input, in order.
type EmbedResponse struct {
	ModelID    string      `json:"model_id"`
	Embeddings [][]float32 `json:"embeddings"`
	Usage      Usage       `json:"usage"`
	NodeID     string      `json:"node_id,omitempty"`
}

func (r EmbedRequest) validate() error {
	n := len(r.Input) + len(r.Tokens)
	switch {
	case r.ModelID == "":
		return errors.New("model_id is required")
	case n == 0:
		return errors.New("input or tokens is required")
	case len(r.Input) > 0 && len(r.Tokens) > 0:
		return errors.New("send input or tokens, not both")
	case n > MaxEmbedInputs:
		return errors.New("too many inputs")
	}
	return nil
}

// EmbedHandler is a Handler that also serves embed_request.
type EmbedHandler interface {
	Embed(ctx context.Context, req EmbedRequest, from Origin) (EmbedResponse, error)
}

func (c *serverConn) handleEmbed(env Envelope) {
	eh, ok := c.srv.cfg.Handler.(EmbedHandler)
	if !ok {
		c.replyError(env.RequestID, &Error{Code: CodeUnknownType, Message: "this node does not serve embeddings"})
		return
	}
	var req EmbedRequest
	if !c.decodeRequest(env, &req) {
		return
	}
	c.start(env, true, func(ctx context.Context, id string, from Origin) {
		resp, err := eh.Embed(ctx, req, from)
		if err != nil {
			c.replyError(id, c.errorFor(ctx, err))
			return
		}
		if resp.NodeID == "" {
			resp.NodeID = c.srv.peerID
		}
		c.reply(TypeEmbedResponse, id, resp)
	})
}

// Embed asks the node at the other end for embeddings.
func (c *Conn) Embed(ctx context.Context, req EmbedRequest) (EmbedResponse, error) {
	e, err := c.roundTrip(ctx, TypeEmbedRequest, TypeEmbedResponse, req)
	if err != nil {
		return EmbedResponse{}, err
	}
	var resp EmbedResponse
	if err := json.Unmarshal(e.Data, &resp); err != nil {
		return EmbedResponse{}, errors.New("embed_response data: " + err.Error())
	}
	if len(resp.Embeddings) != len(req.Input)+len(req.Tokens) {
		return EmbedResponse{}, errors.New("embed_response has the wrong number of embeddings")
	}
	return resp, nil
}
