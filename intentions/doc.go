// Package intentions owns intentions (prospective memory): the bbolt store, triggers
// (time/semantic/condition/session_start), the scheduler and tiers.
//
// It does no HTTP and imports no other aria package: the node wires it to the API
// (CRUD), to chat (Prepare before a response, Delivered after a successful one) and runs
// the scheduler (Run).
//
// # Validation
//
// content: 1 to 4000 characters, not blank. trigger_type: time, semantic, condition or
// session_start. trigger_condition, by type: time — RFC 3339 (2026-02-17T09:00:00Z,
// offsets allowed), or without a zone (2026-02-17T09:00:00, 2026-02-17T09:00), or a
// date (2026-02-17); no zone means UTC; a time already past is accepted and fires on
// the next tick. semantic — a phrase of 1 to 500 characters with at least one content
// word (not only stopwords). condition — an expression of the language below.
// session_start — exactly "*". priority: 0 to 1 (default 0.5).
// max_fires: -1 (recurring) or at least 1 (default 1). expires_at: in the future (on
// create and on PATCH). related_topics: at most 32, each 1 to 100 characters. A
// PATCHed trigger_condition is validated against the intention's (unchangeable)
// trigger type. Errors are *ValidationError whose message starts with the field name.
//
// # Statuses
//
// An intention starts pending. Firing (a trigger, POST fire, or PATCH status triggered)
// takes a pending intention to triggered, adds one to fire_count, sets last_fired_at and
// makes it hot. The next chat request gets it; after a successful response (Delivered)
// it returns to pending while it has fires left (max_fires -1, or fire_count <
// max_fires) and is executed otherwise. PATCH status may move:
//
//	pending   → triggered (a manual firing), executed, expired, cancelled
//	triggered → pending (dismiss without delivering), executed, expired, cancelled
//	cancelled, expired → pending (reactivate), only if expires_at is null or later than
//	            now once the same PATCH's expires_at is applied
//	executed  → nothing
//
// and only while fires remain: an intention that has fired max_fires times cannot go
// back to pending nor fire again (it can be executed, expired or cancelled).
//
// Setting the current status is a no-op (but POST fire on an intention that is not
// pending is refused). Anything else is a *TransitionError matching
// ErrInvalidTransition ("status: cannot change from executed to pending"). DELETE
// (Cancel) is the move to cancelled; the intention is kept. fire_count is never reset.
// A pending or triggered intention whose expires_at has come is expired: Tick stores
// it, and reads, PATCH, Prepare and Delivered apply it first, so an expired intention
// is never shown as pending nor injected.
//
// # Triggers
//
//   - time: the scheduler (and Prepare) fires it once its time has come; it fires once
//     per due time, so a recurring one stays pending after delivery until its
//     trigger_condition is PATCHed to a new time or it is fired by hand.
//   - semantic: Prepare compares the latest non-blank user message with the trigger's
//     embedding (computed at create and on PATCH; a failed or stale one, from another
//     embedder, is recomputed by Prepare) and fires at similarity ≥ 0.78.
//   - condition: Prepare evaluates it against the request's context keys and the node
//     state and fires when it holds.
//   - session_start: Prepare fires it when the session (the request's user, or
//     "default") is new or was idle more than 30 minutes. Last-seen times are stored in
//     bbolt, so a restart does not restart active sessions; Tick forgets idle ones.
//
// # Injection
//
// Prepare returns up to MaxInject (3) intentions that are triggered and hot or warm,
// best first by score = 0.4·priority + 0.3·relevance + 0.2·urgency + 0.1·freshness,
// ties by created_at then id. relevance is the similarity for a semantic firing and 1
// otherwise. urgency is 1 for a time trigger whose time has come, and rises linearly
// from 0 to 1 over the 24 hours before expires_at; the larger applies. freshness is
// exp(−age/7 days) from created_at. The system message is SystemMessageHeader followed
// by one "- content" line per item. A triggered intention not injected (beyond
// MaxInject) or not delivered (the response failed) stays triggered for the next
// request.
//
// # Tiers
//
// hot: created, changed or fired within 24 hours; warm: within 7 days; cold: untouched
// for longer, or executed, expired or cancelled. Tick recomputes tiers and reads show
// them as of now. Only hot and warm intentions are injected; firing a cold pending one
// makes it hot.
//
// # Condition language
//
// Comparisons "ident op value" with op == (or =), !=, <, <=, >, >=; values are numbers,
// "double" or 'single' quoted strings (backslash escapes the next character), bare
// words (emotion=frustration) and true/false. Join them with && (and), || (or), !
// (not) and parentheses; ! negates the comparison or group after it, && binds tighter
// than ||. Identifiers are letters,
// digits, '_' and '.', starting with a letter or '_', and are looked up in the node
// state (numbers) and then the request context (strings), exactly as spelled. An
// identifier alone means present and truthy (not "", "0", "false", "no", "off", or
// 0). Two numbers compare numerically; otherwise == and != compare text ignoring case
// and ordering is false. true/false compare truthiness. An absent identifier makes
// every comparison false except !=, which is true. At most 1000 bytes and 32 levels of
// nesting. Conditions are parsed and evaluated, never executed.
//
// # Lexical embedder
//
// The node uses it when the model is synthetic. Text is lowercased, split on anything
// but letters and digits, English stopwords and single letters are dropped, and words
// lightly stemmed (plural, -ing, -ed, -ly). Each term adds 1+ln(tf) over two of 1024
// FNV-hashed dimensions and the vector is normalized. A message is compared by its
// best part: the whole, each sentence, and every run of up to n+2 consecutive content
// words (n = the trigger's term count). So a trigger fires when about 61% or more of
// its words appear together in the message: "How did the Q4 presentation results go
// over?" matches "Q4 presentation results" (1.0), and "what's the weather like in
// Paris" does not (0).
//
// # Durability and concurrency
//
// Records are JSON in the "intentions" bucket, sessions in "intention_sessions". Each
// write is one bbolt Update transaction (fsynced on commit), so an acknowledged write
// survives kill -9, and each read-modify-write happens inside it, so concurrent calls
// do not lose updates. Run ticks at start (firing what came due while the node was
// down) and then every second, until its context ends.
package intentions
