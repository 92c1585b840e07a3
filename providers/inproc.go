package providers

import (
	"context"
	"io"
	"net/http"
	"sync"
)

// HandlerTransport is an http.RoundTripper that serves requests with h in process: a
// node's built-in providers reach its own OpenAI handler this way, so local tool
// calls, streaming, peer routing, consent and metering work exactly as over HTTP,
// without a socket. The response is returned once h writes its header (streams flow
// through a pipe); closing its body cancels h's request.
//
// The request's RemoteAddr says whose work it is: the owner's (127.0.0.1) only when
// the context was marked with WithOwner, else the request carries
// "X-Aria-Origin: remote" and the node's consent contract applies.
func HandlerTransport(h http.Handler) http.RoundTripper { return handlerTransport{h} }

type handlerTransport struct{ h http.Handler }

type ownerKey struct{}

// WithOwner marks ctx as the node owner's own work: built-in providers then run it
// as the owner's (outside the consent contract's limits on remote work).
func WithOwner(ctx context.Context) context.Context { return context.WithValue(ctx, ownerKey{}, true) }

type inProcessKey struct{}

// InProcess reports whether ctx is a request HandlerTransport delivered: the handler
// serves it itself rather than routing it through the registry again.
func InProcess(ctx context.Context) bool { b, _ := ctx.Value(inProcessKey{}).(bool); return b }

// IsOwner reports whether ctx was marked with WithOwner.
func IsOwner(ctx context.Context) bool { b, _ := ctx.Value(ownerKey{}).(bool); return b }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	in := req.Clone(context.WithValue(ctx, inProcessKey{}, true))
	if in.Body == nil {
		in.Body = http.NoBody
	}
	in.RequestURI = in.URL.RequestURI()
	if IsOwner(ctx) {
		in.RemoteAddr = "127.0.0.1:0"
	} else {
		in.RemoteAddr = "in-process"
		in.Header.Set("X-Aria-Origin", "remote")
	}
	pr, pw := io.Pipe()
	w := &pipeWriter{header: http.Header{}, pw: pw, ready: make(chan struct{})}
	go func() {
		defer func() {
			if v := recover(); v != nil {
				pw.CloseWithError(io.ErrUnexpectedEOF)
				w.writeHeader(http.StatusInternalServerError)
				return
			}
			w.writeHeader(http.StatusOK) // a handler that wrote nothing
			pw.Close()
		}()
		t.h.ServeHTTP(w, in)
	}()
	select {
	case <-w.ready:
	case <-ctx.Done():
		cancel()
		pr.CloseWithError(ctx.Err())
		return nil, ctx.Err()
	}
	return &http.Response{
		Status: http.StatusText(w.status), StatusCode: w.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.sent, Body: &pipeBody{pr: pr, cancel: cancel}, ContentLength: -1, Request: req,
	}, nil
}

// pipeWriter is the handler's ResponseWriter: the header is published once, the body
// goes into the pipe.
type pipeWriter struct {
	header http.Header
	sent   http.Header
	status int
	once   sync.Once
	ready  chan struct{}
	pw     *io.PipeWriter
}

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) WriteHeader(code int) { w.writeHeader(code) }

func (w *pipeWriter) writeHeader(code int) {
	w.once.Do(func() {
		w.status, w.sent = code, w.header.Clone()
		close(w.ready)
	})
}

func (w *pipeWriter) Write(b []byte) (int, error) {
	w.writeHeader(http.StatusOK)
	return w.pw.Write(b)
}

// Flush is a no-op: every Write reaches the reader through the pipe at once.
func (w *pipeWriter) Flush() {}

type pipeBody struct {
	pr     *io.PipeReader
	cancel context.CancelFunc
}

func (b *pipeBody) Read(p []byte) (int, error) { return b.pr.Read(p) }

func (b *pipeBody) Close() error {
	b.cancel()
	return b.pr.CloseWithError(io.ErrClosedPipe)
}
