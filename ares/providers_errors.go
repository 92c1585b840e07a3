package ares

import (
	"errors"
	"net/http"

	"github.com/aria-node/aria/providers"
)

// modelErrorFromProviders maps the providers package's typed errors to ARES answers:
// an upstream's 429 in the documented shape, timeouts 504, other failures 502, and a
// model or tier nothing serves 400.
func modelErrorFromProviders(err error) (int, string, string, int, bool) {
	var rl *providers.RateLimitError
	var ue *providers.UpstreamError
	switch {
	case errors.As(err, &rl):
		return http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED", rl.Error(), max(rl.RetryAfter, 1), true
	case errors.As(err, &ue) && ue.Timeout:
		return http.StatusGatewayTimeout, "UPSTREAM_TIMEOUT", "Provider '" + ue.Provider + "' did not answer in time", 0, true
	case errors.As(err, &ue):
		return http.StatusBadGateway, "UPSTREAM_ERROR", ue.Error(), 0, true
	case errors.Is(err, providers.ErrUnknownModel):
		return http.StatusBadRequest, "MODEL_NOT_FOUND", err.Error(), 0, true
	}
	return 0, "", "", 0, false
}
