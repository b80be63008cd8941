/* pkg/kube/watch: decoder for the watch stream. The API server sends one JSON
 * object per event, {"type":"ADDED","object":{...}}, usually newline
 * separated, in HTTP chunks that split events anywhere. The decoder finds
 * object boundaries itself (braces outside strings), so it does not depend
 * on newlines or on how the bytes were split, and caps each event's size. */
#ifndef MCP_KUBE_WATCH_H
#define MCP_KUBE_WATCH_H

#include <stddef.h>

#include <cjson/cJSON.h>

typedef enum {
	KUBE_EV_ADDED,
	KUBE_EV_MODIFIED,
	KUBE_EV_DELETED,
	KUBE_EV_BOOKMARK,
	KUBE_EV_ERROR, /* object is a Status (410 Gone = resourceVersion too old) */
} kube_event_type_t;

/* "ADDED", ... */
const char *kube_event_type_name(kube_event_type_t t);

/* Receives one decoded event; obj is borrowed (freed after return). A
 * non-zero return stops decoding and is returned by kube_wdec_feed. */
typedef int (*kube_wdec_emit)(kube_event_type_t type, cJSON *obj, void *arg);

typedef struct kube_wdec kube_wdec_t;

/* max_event: cap on one event's bytes (0 = 16 MiB). NULL on ENOMEM. */
kube_wdec_t *kube_wdec_new(size_t max_event);
void kube_wdec_free(kube_wdec_t *d);
/* Forgets any partial event (new stream). */
void kube_wdec_reset(kube_wdec_t *d);

/* Feeds bytes. Returns 0, KUBE_ETOOBIG (an event over the cap), KUBE_EDECODE
 * (not JSON, or not a watch event; err says why), KUBE_ENOMEM, or the
 * emitter's non-zero value. After an error the decoder must be reset. */
int kube_wdec_feed(kube_wdec_t *d, const char *p, size_t n, kube_wdec_emit emit, void *arg,
                   char *err, size_t errlen);
/* True when bytes of an unfinished event are buffered. */
int kube_wdec_pending(const kube_wdec_t *d);

#endif
