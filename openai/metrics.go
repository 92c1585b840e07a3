package openai

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aria-node/aria/inference"
)

// metrics are the API's Prometheus series.
type metrics struct {
	requests     *prometheus.CounterVec
	promptTokens *prometheus.CounterVec
	complTokens  *prometheus.CounterVec
	finishes     *prometheus.CounterVec
	ttft         prometheus.Histogram
	tokenLatency prometheus.Histogram
}

func newMetrics(reg *prometheus.Registry, b Backend) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aria_http_requests_total", Help: "HTTP requests by endpoint and status code.",
		}, []string{"endpoint", "code"}),
		promptTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aria_prompt_tokens_total", Help: "Prompt tokens processed.",
		}, []string{"model"}),
		complTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aria_completion_tokens_total", Help: "Completion tokens generated.",
		}, []string{"model"}),
		finishes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aria_generations_total", Help: "Generations by finish reason (or error).",
		}, []string{"model", "finish_reason"}),
		ttft: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "aria_time_to_first_token_seconds", Help: "From request arrival to the first generated token.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		tokenLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "aria_token_latency_seconds", Help: "Time between consecutive generated tokens of one stream.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	reg.MustRegister(m.requests, m.promptTokens, m.complTokens, m.finishes, m.ttft, m.tokenLatency,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aria_queue_depth", Help: "Requests waiting for a slot."},
			func() float64 { return float64(b.Stats().Queued) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aria_active_slots", Help: "Slots generating now."},
			func() float64 { return float64(b.Stats().ActiveSlots) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aria_slots", Help: "Slots in total."},
			func() float64 { return float64(b.Stats().TotalSlots) }),
	)
	return m
}

// instrument counts requests to endpoint by status code.
func (m *metrics) instrument(endpoint string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		m.requests.WithLabelValues(endpoint, strconv.Itoa(sw.code)).Inc()
	})
}

// tokenTracker observes time to first token and inter-token latency of one stream.
type tokenTracker struct {
	m     *metrics
	start time.Time
	last  time.Time
}

func (m *metrics) tracker(start time.Time) *tokenTracker { return &tokenTracker{m: m, start: start} }

func (t *tokenTracker) token(inference.Token) error {
	now := time.Now()
	if t.last.IsZero() {
		t.m.ttft.Observe(now.Sub(t.start).Seconds())
	} else {
		t.m.tokenLatency.Observe(now.Sub(t.last).Seconds())
	}
	t.last = now
	return nil
}

func (m *metrics) finished(model string, res inference.Result, err error) {
	reason := res.FinishReason
	if err != nil {
		reason = "error"
	} else {
		m.promptTokens.WithLabelValues(model).Add(float64(res.PromptTokens))
		m.complTokens.WithLabelValues(model).Add(float64(res.CompletionTokens))
	}
	m.finishes.WithLabelValues(model, reason).Inc()
}

// embedded counts the tokens of an embeddings request.
func (m *metrics) embedded(model string, tokens int) {
	m.promptTokens.WithLabelValues(model).Add(float64(tokens))
}

type statusWriter struct {
	http.ResponseWriter
	code    int
	written bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.written {
		w.code, w.written = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.written = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush on the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
