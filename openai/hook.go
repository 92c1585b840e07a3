package openai

import (
	"context"
	"net/http"
	"strings"

	"github.com/aria-node/aria/consent"
	"github.com/aria-node/aria/inference"
)

// ChatHook runs once around each chat completion request, whatever n is: the node
// uses it to admit remote work under its consent contract and to bring up intentions.
type ChatHook interface {
	BeginChat(ctx context.Context, info ChatInfo) (ChatTurn, error)
}

// Headers a client may send with a chat request.
const (
	// HeaderSession names the conversation (session) a request belongs to; without it
	// the request's "user" field is the session.
	HeaderSession = "X-Aria-Session"
	// HeaderTaskType declares the task type (text_gen, code_gen, ...) for the consent
	// contract; the body's "task_type" field does the same.
	HeaderTaskType = "X-Aria-Task-Type"
	// HeaderOrigin "remote" marks a request as work for someone other than the node's
	// owner (a gateway or peer forwarding it): it then runs under the consent
	// contract. Claiming to be remote can only restrict a request, so it needs no proof;
	// requests from non-loopback addresses are remote whatever they claim.
	HeaderOrigin = "X-Aria-Origin"
)

// ChatInfo is what a ChatHook learns about a request.
type ChatInfo struct {
	Model        string
	Session      string            // HeaderSession, else the "user" field, else ""
	Metadata     map[string]string // the request's "metadata"
	UserMessages []string          // text of the user messages, oldest first
	TaskType     string            // declared task type, "" when the client did not say
	Remote       bool              // not the node's owner: see HeaderOrigin
	// Endpoint is "" for chat completions; "completions", "embeddings" or "responses"
	// for the other generation endpoints, which are admitted the same way.
	Endpoint string
}

// ChatTurn is the hook's answer.
type ChatTurn struct {
	// System is text to add to the conversation's system message ("" for none).
	System string
	// End is called exactly once when the response is over; ok reports whether it
	// completed. May be nil.
	End func(ok bool)
}

// chatInfo collects a request's ChatInfo.
func chatInfo(r *http.Request, req *ChatCompletionRequest, p chatParams) ChatInfo {
	info := ChatInfo{Model: p.req.Model, Session: r.Header.Get(HeaderSession), Metadata: req.Metadata, TaskType: req.TaskType}
	if info.Session == "" {
		info.Session = req.User
	}
	if h := r.Header.Get(HeaderTaskType); h != "" && info.TaskType == "" {
		info.TaskType = h
	}
	for _, m := range p.req.Messages {
		if m.Role == "user" {
			info.UserMessages = append(info.UserMessages, m.Content)
		}
	}
	info.Remote = remoteClient(r)
	return info
}

// withSystem adds text to the conversation's leading system message, or puts a new
// one first: chat templates accept one system message, at the start.
func withSystem(msgs []inference.Message, text string) []inference.Message {
	if text == "" {
		return msgs
	}
	out := make([]inference.Message, 0, len(msgs)+1)
	if len(msgs) > 0 && msgs[0].Role == "system" {
		out = append(out, inference.Message{Role: "system", Content: msgs[0].Content + "\n\n" + text})
		return append(out, msgs[1:]...)
	}
	out = append(out, inference.Message{Role: "system", Content: text})
	return append(out, msgs...)
}

// Refusal is a 503 the node returns when it will not take a request (for instance
// its consent contract refuses it); code says why.
func Refusal(code, message string, retryAfter int) *APIError {
	return &APIError{Status: http.StatusServiceUnavailable, Type: TypeServiceUnavailable, Code: code, Message: message, RetryAfter: retryAfter}
}

// remoteClient reports whether r is work for someone other than the node's owner: it
// says so (HeaderOrigin) or comes from another machine.
func remoteClient(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get(HeaderOrigin), "remote") || !consent.FromOwner(r.RemoteAddr)
}
