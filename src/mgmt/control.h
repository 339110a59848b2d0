/*
 * The conduitd control protocol: framing, versioning and the JSON shape of
 * requests and responses. Pure code without I/O, shared by the Unix socket
 * server, conduitctl and (later) the TLS management endpoint, and fuzzed
 * by tests/fuzz/fuzz_control.c.
 *
 * Frame: 8-byte header, then the payload.
 *   0..1  magic 'C' 'D'
 *   2     version (CTL_VERSION)
 *   3     type (CTL_TYPE_REQUEST, CTL_TYPE_RESPONSE)
 *   4..7  payload length, uint32 big-endian, 1..max_payload
 * Payload: one UTF-8 JSON object.
 *   request:  {"id":N,"cmd":"name","args":{...}}            (args optional)
 *   response: {"id":N,"ok":true,"result":{...}}
 *             {"id":N,"ok":false,"error":{"code":"...","message":"...",
 *                                          "diagnostics":[{"file","line","col","message"}]}}
 */
#ifndef CONDUIT_MGMT_CONTROL_H
#define CONDUIT_MGMT_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct diag_list;

#define CTL_MAGIC0 'C'
#define CTL_MAGIC1 'D'
#define CTL_VERSION 1
#define CTL_HDR_LEN 8
/* Above the 32 MiB policy file limit plus JSON escaping of typical YAML. */
#define CTL_MAX_PAYLOAD (40u * 1024 * 1024)

enum ctl_type {
	CTL_TYPE_REQUEST = 1,
	CTL_TYPE_RESPONSE = 2,
};

/* Result of one ctl_decode call (three-way, like a streaming parser). */
enum ctl_result {
	CTL_FRAME = 0,	/* one complete frame in *out */
	CTL_INCOMPLETE, /* all input consumed, more bytes needed */
	CTL_ERROR,	/* stream is broken; see ctl_decoder_error; sticky */
};

enum ctl_error {
	CTL_E_NONE = 0,
	CTL_E_MAGIC,	  /* not 'C' 'D' */
	CTL_E_VERSION,	  /* unsupported protocol version */
	CTL_E_TYPE,	  /* unknown frame type */
	CTL_E_LENGTH,	  /* zero or over the payload limit */
	CTL_E_JSON,	  /* payload is not valid UTF-8 JSON */
	CTL_E_NOT_OBJECT, /* payload is JSON but not an object */
	CTL_E_NOMEM,
};

struct ctl_frame {
	enum ctl_type type;
	json_t *msg; /* new reference; the caller json_decref()s it */
};

/* Incremental decoder; feed it bytes in any split, get whole frames. */
struct ctl_decoder {
	uint8_t hdr[CTL_HDR_LEN];
	size_t hdr_have;
	uint32_t plen; /* payload length of the frame being read */
	char *payload; /* grows with the bytes received */
	size_t cap;
	size_t have;
	uint32_t max_payload;
	enum ctl_error err;
	char errtext[256]; /* jansson's reason for CTL_E_JSON */
};

/* max_payload 0 means CTL_MAX_PAYLOAD; larger values are clamped to it. */
void ctl_decoder_init(struct ctl_decoder *d, uint32_t max_payload);
void ctl_decoder_free(struct ctl_decoder *d);
/*
 * Consumes bytes from buf[0..len) and stores how many in *consumed. Stops
 * after one complete frame (CTL_FRAME; the rest of buf is for the next
 * call), or when buf is exhausted (CTL_INCOMPLETE), or on the first
 * protocol error (CTL_ERROR; further calls return CTL_ERROR at once).
 */
enum ctl_result ctl_decode(struct ctl_decoder *d, const void *buf, size_t len,
			   size_t *consumed, struct ctl_frame *out);
/* True while a frame has been started but not finished. */
bool ctl_decoder_partial(const struct ctl_decoder *d);
enum ctl_error ctl_decoder_error(const struct ctl_decoder *d);
/* Human-readable reason for the decoder's error (includes jansson's text). */
const char *ctl_decoder_reason(const struct ctl_decoder *d);
const char *ctl_error_str(enum ctl_error e);

/*
 * Serialises msg (a JSON object) into a newly allocated frame in *out
 * (*outlen bytes; free() it). Returns 0, -EINVAL (not an object or bad
 * type), -EMSGSIZE (payload over CTL_MAX_PAYLOAD) or -ENOMEM.
 */
int ctl_encode(enum ctl_type type, const json_t *msg, uint8_t **out,
	       size_t *outlen);

/* Requests. args is stolen (may be NULL). Returns a new reference or NULL. */
json_t *ctl_request_new(uint64_t id, const char *cmd, json_t *args);
/*
 * Checks the request shape. On success *id, *cmd and *args (borrowed; an
 * empty object is never created: *args is NULL when absent) are set and 0
 * is returned; on failure -EINVAL with a reason in *why. *id is set
 * whenever the request carried a usable id (else 0), so the error reply
 * can still name it.
 */
int ctl_request_parse(const json_t *msg, uint64_t *id, const char **cmd,
		      const json_t **args, const char **why);

/* Responses; result is stolen. Return new references or NULL. */
json_t *ctl_response_ok(uint64_t id, json_t *result);
/* diags may be NULL; each record becomes {"file","line","col","message"}. */
json_t *ctl_response_error(uint64_t id, const char *code, const char *message,
			   const struct diag_list *diags);
/*
 * Checks a response. *ok tells which member is set: *result (ok) or
 * *error (not ok), both borrowed from msg. Returns 0 or -EINVAL + *why.
 */
int ctl_response_parse(const json_t *msg, uint64_t *id, bool *ok,
		       const json_t **result, const json_t **error,
		       const char **why);

/* Error codes used in responses (stable; documented in conduitctl(8)). */
#define CTL_ERR_PROTOCOL "protocol-error"
#define CTL_ERR_BAD_REQUEST "bad-request"
#define CTL_ERR_UNKNOWN_COMMAND "unknown-command"
#define CTL_ERR_INVALID_ARGS "invalid-arguments"
#define CTL_ERR_PERMISSION "permission-denied"
#define CTL_ERR_POLICY_INVALID "policy-invalid"
#define CTL_ERR_APPLY_FAILED "apply-failed"
#define CTL_ERR_IO "io-error"
#define CTL_ERR_BUSY "busy"
#define CTL_ERR_TIMEOUT "timeout"
#define CTL_ERR_INTERNAL "internal-error"

#endif
