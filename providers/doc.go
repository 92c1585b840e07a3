// Package providers owns the model providers behind the platform: OpenAI-compatible
// upstream clients, the configured models, the tiers that map to them, and fallback.
//
// The API, in OpenAI's wire shapes:
//
//   - ChatRequest / ChatResponse / Message / Tool / ToolCall / Usage: one chat turn.
//     ChatRequest.Model is a configured model name, a tier name (fast, balanced,
//     powerful, deepseek, local), or any other name, which goes to the default
//     provider (on a node: the node's own kernel and peers).
//   - Provider is one backend (Client is the OpenAI-compatible one; a node's built-in
//     "local" and "network" providers are Clients whose transport calls the node's
//     handler in process). A provider receives the provider's own model id.
//   - Registry holds providers and models: Registry.Chat and Registry.ChatStream resolve
//     the name, call the first model of the tier and fall back to the next one on a
//     rate limit, timeout or failure; the response says which model and provider
//     served (and which attempts failed). Models lists what is configured,
//     ListModels adds what providers announce, ContextLength answers 0 when unknown.
//   - Errors: *RateLimitError (an upstream's 429; its message is exactly
//     "Rate limit exceeded for provider '<name>'"), *UpstreamError (timeouts, 5xx,
//     garbage, bodies or streams beyond the limits), ErrUnknownModel (wrapped with the
//     name; also a tier with no model).
//
// Package upstreamtest is a scripted OpenAI-compatible upstream on loopback for tests.
package providers
