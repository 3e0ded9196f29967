// Package httpprovider serves export types from business services over
// HTTP: each configured type is a domain.Provider whose pages come from
// POST requests to the service's URL. A business service implements one
// endpoint and never sees queues, retries or files. PROTOCOL.md in this
// folder has the same contract with example services in Go and Python.
//
// # Requests
//
// The worker POSTs, for each page of an export:
//
//	POST <url>
//	Content-Type: application/json
//	User-Agent: DownloadCenter-httpprovider/1
//	webhook-id: req_6c1f0e9a2b4d8e7f10a3c5b2
//	webhook-timestamp: 1767323045
//	webhook-signature: v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>
//	X-DC-Task-ID: 42
//	X-DC-Attempt: 1
//
//	{"type": "invoices", "params": {"year": 2026}, "cursor": null, "limit": 5000}
//
// cursor is null for the first page, then the previous page's next_cursor
// verbatim. limit is the page size wanted; a service may return fewer
// rows (and should not return many more: max_response_bytes bounds a
// page). params are the task's params exactly as the client gave them,
// numbers in their original text. X-DC-Task-ID and X-DC-Attempt are for
// logs only and not covered by the signature.
//
// # Authentication
//
// Requests are signed by the Standard Webhooks scheme (infra/stdwebhooks),
// as completion webhooks are: base64 HMAC-SHA256, under the shared secret's
// bytes (or the key of a whsec_<base64> secret), of the webhook-id, a ".",
// the webhook-timestamp (Unix seconds), a "." and the raw body bytes. A
// service must recompute it over the body exactly as received, compare in
// constant time, and reject a timestamp more than 5 minutes from its own
// clock (replays), answering 401. Verify does all of that for services
// written in Go. Every try is signed afresh, so a retry is never stale.
//
// # Responses
//
// A page is answered 200 with a JSON object:
//
//	{"rows": [{"id": 1, "total": "12.50", "issued_at": "2026-01-02T03:04:05Z"}],
//	 "next_cursor": "1"}
//
// rows is required (an empty array is fine); next_cursor is required: a
// non-empty string to continue, null when there are no more rows. Each row
// is an object keyed by the configured column fields; a missing field or
// null is an empty cell, and a key that is not a configured field fails
// the task. Values by the column's kind:
//
//	string   JSON string
//	int      JSON number with an integral value in the int64 range (5, 5.0
//	         and 5e0 are 5; 1.5 and "5" are refused) → int64
//	decimal  JSON number or string in plain notation, -?(0|[1-9]\d*)(\.\d+)?
//	         (no exponent, no "+", no leading zeros), kept exactly as
//	         written, never through a float → domain.Decimal
//	bool     JSON true or false
//	time     RFC 3339 string ("2026-01-02T03:04:05Z", offsets and fractional
//	         seconds allowed) → time.Time
//
// A value of the wrong kind fails the task permanently with a message
// naming the row by its index in the page (rows[12].total) and the field.
//
// # Counts
//
// With count: true in the config, the worker also asks once per attempt
// how many rows the export has, so clients see a total while it runs:
//
//	{"type": "invoices", "params": {...}, "count": true}   →   {"count": 10000}
//
// signed the same way, without the task headers. A failed count only
// leaves the total unknown. Without count: true no such request is made.
//
// # Failures
//
// A 5xx, 408 or 429 answer, a timeout (timeout, per request, the body
// included) and a connection error are retried within the attempt up to
// retries times, waiting backoff, doubled each time with jitter, at most
// 10 s or backoff if longer (a Retry-After in seconds is honoured within
// that cap); then the attempt fails and the task's retry policy takes over. 401 and 403 fail
// the task permanently ("check the shared secret"), as do other 4xx, 3xx
// (redirects are not followed), a body over max_response_bytes, and a 200
// whose body is not the JSON described above. Error messages quote at most
// the start of a service's error body and never contain the secret.
//
// # Params
//
// Params declared in the config are checked when a task is created (and
// again before each page): their kind as above (time params as RFC 3339
// strings), and required ones present and not null. Undeclared params are
// refused ("params.x: unknown parameter") unless allow_unknown_params is
// true, when they are passed to the service unchecked.
package httpprovider
