/* pkg/prom: a strict, fast parser for the Prometheus text exposition format
 * (version 0.0.4), the extraction of what mcp-worker exports into a per-pod
 * sample, and PromQL's histogram_quantile.
 *
 * The parser streams: it calls a function once per sample with borrowed
 * strings, so a scrape of thousands of lines allocates one scratch buffer and
 * nothing per line. It is strict: any malformed line stops the parse with
 * PROM_ESYNTAX and a message naming the line number and the reason, because a
 * half-understood scrape is worse than a missing one (the decision logic
 * handles missing pods as the HPA does).
 *
 * Accepted grammar (https://prometheus.io/docs/instrumenting/exposition_formats/):
 *   line     = empty | "# HELP " name " " docstring | "# TYPE " name " " type
 *            | "#" other-comment | sample
 *   sample   = name [ "{" [ label { "," label } [ "," ] ] "}" ] " " value [ " " timestamp ]
 *   label    = lname "=" '"' escaped-value '"'       (escapes: \\  \"  \n)
 *   value    = Go float: digits, exponent, +Inf, -Inf, Inf, NaN
 *   timestamp= int64 milliseconds since the epoch
 * Rejected: bad names, unknown escapes, unterminated quotes, duplicate label
 * names in one sample, a second TYPE or HELP for one family, a TYPE line after
 * samples of its family, unknown types, NUL bytes, lines over PROM_MAX_LINE,
 * bodies over the caller's cap. */
#ifndef MCP_PROM_PROM_H
#define MCP_PROM_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROM_ESYNTAX  (-1) /* malformed line: see err */
#define PROM_ETOOBIG  (-2) /* body or line over the cap */
#define PROM_ENOMEM   (-3)
#define PROM_ESTOPPED (-4) /* the callback returned non-zero */
#define PROM_EMISSING (-5) /* prom_worker_extract: a required metric is absent */
#define PROM_EINVAL   (-6) /* bad argument or value (e.g. too many buckets) */

#define PROM_MAX_LINE   (64 * 1024)
#define PROM_MAX_LABELS 32

/* Returns a static string for a PROM_E* code. */
const char *prom_strerror(int err);

typedef enum {
	PROM_UNTYPED = 0,
	PROM_COUNTER,
	PROM_GAUGE,
	PROM_HISTOGRAM,
	PROM_SUMMARY,
} prom_type_t;

typedef struct {
	const char *name;  /* borrowed, NUL-terminated */
	const char *value; /* borrowed, unescaped, NUL-terminated */
} prom_label_t;

/* One sample. Every pointer is borrowed and valid only during the callback. */
typedef struct {
	const char *name;
	const prom_label_t *labels;
	size_t nlabels;
	double value;
	bool has_timestamp;
	int64_t timestamp_ms;
	prom_type_t type; /* from the family's # TYPE (name, or name minus _bucket/_sum/_count) */
	size_t line;      /* 1-based line number */
} prom_sample_t;

/* Return 0 to go on, non-zero to stop the parse (prom_parse returns PROM_ESTOPPED). */
typedef int (*prom_sample_fn)(const prom_sample_t *s, void *ud);

/* Parses body[0..len) (need not be NUL-terminated), calling fn for each
 * sample in order. max_len caps the body (0 = 16 MiB). Returns 0,
 * PROM_ETOOBIG, PROM_ESYNTAX ("line 12: ..."), PROM_ENOMEM or PROM_ESTOPPED,
 * with detail in err (may be NULL). fn may be NULL to validate only. */
int prom_parse(const char *body, size_t len, size_t max_len, prom_sample_fn fn, void *ud, char *err,
               size_t errlen);

/* Looks up a label value in a sample; NULL when absent. */
const char *prom_label(const prom_sample_t *s, const char *name);

/* ---- histogram_quantile ------------------------------------------------- */

typedef struct {
	double le;    /* upper bound; +INFINITY for the +Inf bucket */
	double count; /* cumulative count */
} prom_bucket_t;

/* PromQL histogram_quantile(q, buckets) on cumulative buckets (any order;
 * sorted in place): linear interpolation inside the bucket holding rank
 * q*total, the lowest bucket starting at 0 (or returning its bound when it is
 * <= 0), the highest finite bound when the rank falls in the +Inf bucket,
 * equal bounds merged, non-monotonic counts raised to monotonic. Returns NaN
 * when there is no +Inf bucket, fewer than 2 buckets, or no observations;
 * -Inf for q < 0, +Inf for q > 1, NaN for q NaN. */
double prom_histogram_quantile(double q, prom_bucket_t *b, size_t n);

/* ---- mcp-worker metrics ------------------------------------------------- */

#define PROM_MAX_BUCKETS 64

/* What the controller needs from one worker's /metrics (names in DESIGN.md
 * "Worker metrics"), plus CPU which comes from metrics.k8s.io, not from the
 * scrape (prom_worker_extract leaves it unset). Plain data; copy freely. */
typedef struct {
	double pool_size;        /* mcp_pool_size */
	double pool_target_size; /* mcp_pool_target_size (has_pool_target_size) */
	double pool_in_use;      /* mcp_pool_connections{state="in_use"} */
	double waiters;          /* mcp_pool_waiters */
	/* mcp_request_duration_seconds_bucket, sorted by le, +Inf last; cumulative counters */
	size_t nbuckets;
	prom_bucket_t buckets[PROM_MAX_BUCKETS];
	double latency_sum, latency_count; /* _sum and _count (has_latency_sum) */
	double requests_total;             /* sum of mcp_requests_total over result */
	double cpu_millicores;             /* usage (has_cpu) */
	double cpu_request_millicores;     /* container request; 0 = none set */
	/* PodMetrics' timestamp (seconds, the decision's clock) and window
	 * (seconds), for the HPA's CPU readiness rule (has_cpu_window) */
	double cpu_timestamp, cpu_window;
	bool has_pool_target_size;
	bool has_latency_sum;
	bool has_cpu;
	bool has_cpu_window;
} prom_worker_metrics_t;

/* Parses a worker's /metrics body into out (zeroed first). Requires
 * mcp_pool_size, mcp_pool_connections{state="in_use"} and mcp_pool_waiters;
 * the latency histogram is optional (nbuckets 0) but, when present, must have
 * a +Inf bucket. Returns 0, a prom_parse error, PROM_EMISSING naming the
 * metric, or PROM_EINVAL (e.g. more than PROM_MAX_BUCKETS buckets, a negative
 * gauge); err explains. */
int prom_worker_extract(const char *body, size_t len, size_t max_len, prom_worker_metrics_t *out,
                        char *err, size_t errlen);

/* Adds one bucket (le, cumulative count) to m, keeping buckets sorted by le
 * and merging an equal le. Returns 0 or PROM_EINVAL (full, or le NaN). Used by
 * prom_worker_extract and by readers of other formats (the simulator's trace). */
int prom_worker_add_bucket(prom_worker_metrics_t *m, double le, double count);

#endif
