#include "simulate.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml.h>

#include "autoscale/autoscale.h"
#include "base/clock.h"
#include "base/opt.h"

#define MAX_FILE (8u * 1024u * 1024u)
#define MAX_PODS 100000

typedef struct {
	char policy[4096];
	char trace[4096];
	char model[4096];
	char plot[4096];
	char output[4096];
} sim_opts_t;

#define F(x) offsetof(sim_opts_t, x), sizeof(((sim_opts_t *)0)->x)
static const base_opt_t sim_table[] = {
        {"policy", BASE_OPT_STRING, F(policy), 0, 0, NULL, NULL, NULL,
         "policy ConfigMap YAML (as `kubectl get cm NAME -o yaml` prints it); required"},
        {"trace", BASE_OPT_STRING, F(trace), 0, 0, NULL, NULL, NULL,
         "metrics trace, JSON lines, one sync period each (DESIGN.md format)"},
        {"model", BASE_OPT_STRING, F(model), 0, 0, NULL, NULL, NULL,
         "queueing model JSON (docs/autoscale.md); replicas and pool fed back"},
        {"plot", BASE_OPT_STRING, F(plot), 0, 0, NULL, NULL, NULL,
         "draw load, replicas, pool size and P99 over time into this PNG (gnuplot)"},
        {"output", BASE_OPT_STRING, F(output), 0, 0, NULL, NULL, NULL,
         "write the JSON lines here instead of stdout"},
        BASE_OPT_END,
};

static const char sim_usage[] =
        "Usage: mcp-autoscaler simulate --policy FILE (--trace FILE | --model FILE) "
        "[--plot FILE.png]\n\n"
        "Replays a metrics trace, or a queueing model of the workers, through the same\n"
        "decision code the controller runs, and prints one JSON line per sync period:\n"
        "  "
        "{\"t\":..,\"replicas\":..,\"desiredReplicas\":..,\"poolSize\":..,\"desiredPoolSize\":..,\n"
        "   \"reason\":..,\"metrics\":{..},\"conditions\":[..],\"load\":..,\"p99\":..}\n"
        "Exit status: 0 ok, 1 I/O or plot failure, 2 bad usage, policy, trace or model.";

/* ---- small helpers ------------------------------------------------------- */

/* snprintf into a caller's error buffer (truncation is fine for messages) */
static void errf(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;
	if (f == NULL) {
		errf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		size_t r;
		if (n + 4096 + 1 > cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			char *nb;
			if (ncap > MAX_FILE + 4096 + 1)
				ncap = MAX_FILE + 4096 + 1;
			if (n + 1 >= ncap) {
				errf(err, errlen, "%s: too large (more than %u bytes)", path,
				     MAX_FILE);
				free(buf);
				fclose(f);
				return NULL;
			}
			nb = realloc(buf, ncap);
			if (nb == NULL) {
				errf(err, errlen, "%s: out of memory", path);
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
			cap = ncap;
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
		if (n > MAX_FILE) {
			errf(err, errlen, "%s: too large (more than %u bytes)", path, MAX_FILE);
			free(buf);
			fclose(f);
			return NULL;
		}
	}
	if (ferror(f)) {
		errf(err, errlen, "%s: read error", path);
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	if (buf == NULL) {
		buf = malloc(1);
		if (buf == NULL)
			return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* ---- policy file --------------------------------------------------------- */

static int load_policy(const char *path, autoscale_policy_t *pol, char *err, size_t errlen)
{
	size_t len;
	char *text = read_file(path, &len, err, errlen);
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root, *data = NULL;
	const char **keys = NULL, **vals = NULL;
	size_t n = 0;
	int rc = -1;
	char why[2048];

	if (text == NULL)
		return -1;
	if (!yaml_parser_initialize(&parser)) {
		free(text);
		errf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		errf(err, errlen, "%s: YAML error at line %zu: %s", path,
		     parser.problem_mark.line + 1, parser.problem ? parser.problem : "unknown");
		yaml_parser_delete(&parser);
		free(text);
		return -1;
	}
	root = yaml_document_get_root_node(&doc);
	if (root == NULL || root->type != YAML_MAPPING_NODE) {
		errf(err, errlen, "%s: not a ConfigMap (expected a YAML mapping)", path);
		goto out;
	}
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(&doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&doc, p->value);
		if (k && k->type == YAML_SCALAR_NODE) {
			const char *ks = (const char *)k->data.scalar.value;
			if (strcmp(ks, "data") == 0)
				data = v;
			if (strcmp(ks, "kind") == 0 && v && v->type == YAML_SCALAR_NODE &&
			    strcmp((const char *)v->data.scalar.value, "ConfigMap") != 0) {
				errf(err, errlen, "%s: kind is %s, not ConfigMap", path,
				     (const char *)v->data.scalar.value);
				goto out;
			}
		}
	}
	if (data == NULL || data->type != YAML_MAPPING_NODE) {
		errf(err, errlen, "%s: no .data mapping (is it a ConfigMap?)", path);
		goto out;
	}
	{
		size_t cnt =
		        (size_t)(data->data.mapping.pairs.top - data->data.mapping.pairs.start);
		keys = calloc(cnt + 1, sizeof(*keys));
		vals = calloc(cnt + 1, sizeof(*vals));
		if (keys == NULL || vals == NULL) {
			errf(err, errlen, "%s: out of memory", path);
			goto out;
		}
	}
	for (yaml_node_pair_t *p = data->data.mapping.pairs.start; p < data->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(&doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&doc, p->value);
		if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE ||
		    v->type != YAML_SCALAR_NODE) {
			errf(err, errlen, "%s: .data values must be strings", path);
			goto out;
		}
		keys[n] = (const char *)k->data.scalar.value;
		vals[n] = (const char *)v->data.scalar.value;
		n++;
	}
	if (autoscale_policy_parse(keys, vals, n, pol, why, sizeof(why)) != 0) {
		errf(err, errlen, "%s: invalid policy: %s", path, why);
		goto out;
	}
	rc = 0;
out:
	free(keys);
	free(vals);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	free(text);
	return rc;
}

/* ---- rows, output, plot ------------------------------------------------------ */

typedef struct {
	double t, load, p99;
	int32_t replicas, desired, pool, desired_pool;
} row_t;

typedef struct {
	row_t *v;
	size_t n, cap;
} rows_t;

static int rows_add(rows_t *r, row_t x)
{
	if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 256;
		row_t *nv = realloc(r->v, nc * sizeof(*nv));
		if (nv == NULL)
			return -1;
		r->v = nv;
		r->cap = nc;
	}
	r->v[r->n++] = x;
	return 0;
}

static int emit(FILE *out, const autoscale_decision_t *d, double t, int32_t replicas, int32_t pool,
                double load, double p99)
{
	char buf[8192];
	size_t n = autoscale_decision_json(d, t, replicas, pool, buf, sizeof(buf));
	if (n >= sizeof(buf) || n < 2)
		return -1;
	buf[n - 1] = '\0'; /* drop the closing brace to add our fields */
	fprintf(out, "%s,\"load\":", buf);
	if (isfinite(load))
		fprintf(out, "%.6g", load);
	else
		fputs("null", out);
	fputs(",\"p99\":", out);
	if (isfinite(p99))
		fprintf(out, "%.6g", p99);
	else
		fputs("null", out);
	fputs("}\n", out);
	return ferror(out) ? -1 : 0;
}

static bool have_gnuplot(void)
{
	const char *path = getenv("PATH");
	char buf[4096];
	if (path == NULL)
		return false;
	while (*path) {
		const char *c = strchr(path, ':');
		size_t l = c ? (size_t)(c - path) : strlen(path);
		if (l > 0 && l < sizeof(buf) - 10) {
			snprintf(buf, sizeof(buf), "%.*s/gnuplot", (int)l, path);
			if (access(buf, X_OK) == 0)
				return true;
		}
		path += l;
		if (*path == ':')
			path++;
	}
	return false;
}

static void gp_quote(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputs("''", f);
		else
			fputc(*s, f);
	}
	fputc('\'', f);
}

static int plot(const char *png, const rows_t *rows, const autoscale_policy_t *pol,
                const char *title)
{
	char dir[] = "/tmp/mcp-simulate-XXXXXX";
	char data[64], script[64];
	FILE *f;
	pid_t pid;
	int status, rc = 1;

	if (!have_gnuplot()) {
		fprintf(stderr,
		        "mcp-autoscaler simulate: --plot needs gnuplot, which is not installed; "
		        "install it with `apt-get install gnuplot-nox` (or `make deps`)\n");
		return 1;
	}
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "mcp-autoscaler simulate: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(data, sizeof(data), "%s/data.tsv", dir);
	snprintf(script, sizeof(script), "%s/plot.gp", dir);
	f = fopen(data, "w");
	if (f == NULL)
		goto out;
	for (size_t i = 0; i < rows->n; i++) {
		const row_t *r = &rows->v[i];
		fprintf(f, "%g\t%g\t%d\t%d\t%d\t%d\t", r->t, isfinite(r->load) ? r->load : 0,
		        (int)r->replicas, (int)r->desired, (int)r->pool, (int)r->desired_pool);
		if (isfinite(r->p99))
			fprintf(f, "%g\n", r->p99 * 1000);
		else
			fputs("NaN\n", f);
	}
	if (fclose(f) != 0)
		goto out;
	f = fopen(script, "w");
	if (f == NULL)
		goto out;
	fputs("set terminal pngcairo size 1100,1000 font 'sans,10'\nset output ", f);
	gp_quote(f, png);
	fputs("\nset datafile separator '\\t'\nset datafile missing 'NaN'\n"
	      "set grid\nset key top left\nset lmargin 10\n",
	      f);
	fputs("set multiplot layout 4,1 title ", f);
	gp_quote(f, title);
	fputs("\n", f);
	fputs("set ylabel 'requests/s'\nplot ", f);
	gp_quote(f, data);
	fputs(" using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'load'\n", f);
	fprintf(f, "set ylabel 'replicas'\nset yrange [0:%d]\nplot ", (int)pol->max_replicas + 1);
	gp_quote(f, data);
	fputs(" using 1:4 with steps lw 2 lc rgb '#d62728' title 'desired replicas', ", f);
	gp_quote(f, data);
	fprintf(f,
	        " using 1:3 with steps lw 1 dt 2 lc rgb '#555555' title 'current', "
	        "%d with lines dt 3 lc rgb '#999999' title 'maxReplicas'\n",
	        (int)pol->max_replicas);
	fprintf(f, "set ylabel 'pool size'\nset yrange [0:%d]\nplot ", (int)pol->pool_max_size + 1);
	gp_quote(f, data);
	fputs(" using 1:6 with steps lw 2 lc rgb '#2ca02c' title 'desired pool size'\n", f);
	fputs("set ylabel 'P99 (ms, log)'\nset xlabel 't (s)'\nset logscale y\nset yrange "
	      "[1:*]\nplot ",
	      f);
	gp_quote(f, data);
	fputs(" using 1:7 with lines lw 2 lc rgb '#9467bd' title 'P99'", f);
	if (pol->has_target[AUTOSCALE_M_P99_LATENCY])
		fprintf(f, ", %g with lines dt 2 lc rgb '#999999' title 'target'",
		        pol->target[AUTOSCALE_M_P99_LATENCY] * 1000);
	fputs("\nunset multiplot\n", f);
	if (fclose(f) != 0)
		goto out;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		goto out;
	if (pid == 0) {
		execlp("gnuplot", "gnuplot", script, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			goto out;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		rc = 0;
	else
		fprintf(stderr, "mcp-autoscaler simulate: gnuplot failed (status %d)\n", status);
out:
	if (rc != 0 && errno)
		fprintf(stderr, "mcp-autoscaler simulate: plotting: %s\n", strerror(errno));
	unlink(data);
	unlink(script);
	rmdir(dir);
	return rc;
}

/* ---- trace mode ---------------------------------------------------------------- */

typedef struct {
	char *name;
	double inf;
} prevcount_t;

static int json_num(const cJSON *o, const char *k, double *out, bool required, char *err,
                    size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (v == NULL || cJSON_IsNull(v)) {
		if (required)
			errf(err, errlen, "missing \"%s\"", k);
		return required ? -1 : 1;
	}
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
		errf(err, errlen, "\"%s\" is not a number", k);
		return -1;
	}
	*out = v->valuedouble;
	return 0;
}

static int json_int(const cJSON *o, const char *k, int32_t lo, int32_t hi, int32_t *out, char *err,
                    size_t errlen)
{
	double v;
	if (json_num(o, k, &v, true, err, errlen) != 0)
		return -1;
	if (v != floor(v) || v < lo || v > hi) {
		errf(err, errlen, "\"%s\" must be an integer in [%d, %d]", k, (int)lo, (int)hi);
		return -1;
	}
	*out = (int32_t)v;
	return 0;
}

static int json_bool(const cJSON *o, const char *k, bool def, bool *out, char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (v == NULL) {
		*out = def;
		return 0;
	}
	if (!cJSON_IsBool(v)) {
		errf(err, errlen, "\"%s\" is not true or false", k);
		return -1;
	}
	*out = cJSON_IsTrue(v);
	return 0;
}

static int parse_phase(const char *s, autoscale_phase_t *out)
{
	static const struct {
		const char *n;
		autoscale_phase_t p;
	} t[] = {{"Pending", AUTOSCALE_POD_PENDING},
	         {"Running", AUTOSCALE_POD_RUNNING},
	         {"Succeeded", AUTOSCALE_POD_SUCCEEDED},
	         {"Failed", AUTOSCALE_POD_FAILED},
	         {"Unknown", AUTOSCALE_POD_UNKNOWN}};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (strcmp(s, t[i].n) == 0) {
			*out = t[i].p;
			return 0;
		}
	}
	return -1;
}

static int parse_pod(const cJSON *j, autoscale_pod_t *p, char *err, size_t errlen)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
	const cJSON *phase = cJSON_GetObjectItemCaseSensitive(j, "phase");
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "metrics");
	char why[200];
	int r;

	memset(p, 0, sizeof(*p));
	if (!cJSON_IsObject(j)) {
		errf(err, errlen, "a pod is not an object");
		return -1;
	}
	if (!cJSON_IsString(name) || name->valuestring[0] == '\0') {
		errf(err, errlen, "pod without a \"name\" string");
		return -1;
	}
	p->name = name->valuestring;
	p->phase = AUTOSCALE_POD_RUNNING;
	if (phase && (!cJSON_IsString(phase) || parse_phase(phase->valuestring, &p->phase) != 0)) {
		errf(err, errlen,
		     "pod %.60s: \"phase\" must be Pending, Running, Succeeded, "
		     "Failed or Unknown",
		     p->name);
		return -1;
	}
	if (json_bool(j, "ready", p->phase == AUTOSCALE_POD_RUNNING, &p->ready, why, sizeof(why)) !=
	            0 ||
	    json_bool(j, "deleted", false, &p->deleted, why, sizeof(why)) != 0)
		goto bad;
	r = json_num(j, "startTime", &p->start_time, false, why, sizeof(why));
	if (r < 0)
		goto bad;
	p->has_start_time = r == 0;
	r = json_num(j, "readyTime", &p->ready_transition_time, false, why, sizeof(why));
	if (r < 0)
		goto bad;
	p->has_ready_transition = r == 0;
	if (m == NULL || cJSON_IsNull(m)) {
		p->has_metrics = false;
		return 0;
	}
	if (!cJSON_IsObject(m)) {
		snprintf(why, sizeof(why), "\"metrics\" must be an object or null");
		goto bad;
	}
	p->has_metrics = true;
	{
		prom_worker_metrics_t *x = &p->metrics;
		const cJSON *lb = cJSON_GetObjectItemCaseSensitive(m, "latency_buckets");
		double v;
		if (json_num(m, "pool_size", &x->pool_size, true, why, sizeof(why)) != 0 ||
		    json_num(m, "pool_in_use", &x->pool_in_use, true, why, sizeof(why)) != 0 ||
		    json_num(m, "waiters", &x->waiters, true, why, sizeof(why)) != 0)
			goto bad;
		if (x->pool_size < 0 || x->pool_in_use < 0 || x->waiters < 0) {
			snprintf(why, sizeof(why), "negative gauge");
			goto bad;
		}
		r = json_num(m, "cpu_millicores", &x->cpu_millicores, false, why, sizeof(why));
		if (r < 0)
			goto bad;
		x->has_cpu = r == 0;
		if (json_num(m, "cpu_request_millicores", &x->cpu_request_millicores, false, why,
		             sizeof(why)) < 0)
			goto bad;
		{
			int rs = json_num(m, "latency_sum", &x->latency_sum, false, why,
			                  sizeof(why));
			int rcnt = json_num(m, "latency_count", &x->latency_count, false, why,
			                    sizeof(why));
			if (rs < 0 || rcnt < 0)
				goto bad;
			if (rs == 0 && x->latency_sum < 0) {
				snprintf(why, sizeof(why), "\"latency_sum\" must be >= 0");
				goto bad;
			}
			x->has_latency_sum = rs == 0;
		}
		if (lb && !cJSON_IsNull(lb)) {
			const cJSON *b;
			if (!cJSON_IsObject(lb)) {
				snprintf(why, sizeof(why), "\"latency_buckets\" must be an object");
				goto bad;
			}
			cJSON_ArrayForEach(b, lb)
			{
				char *end;
				double le;
				if (strcmp(b->string, "+Inf") == 0 ||
				    strcmp(b->string, "Inf") == 0) {
					le = INFINITY;
				} else {
					errno = 0;
					le = strtod(b->string, &end);
					if (*end != '\0' || end == b->string || errno != 0 ||
					    !isfinite(le)) {
						snprintf(
						        why, sizeof(why),
						        "latency_buckets: \"%.30s\" is not a bound",
						        b->string);
						goto bad;
					}
				}
				if (!cJSON_IsNumber(b) || !(b->valuedouble >= 0)) {
					snprintf(why, sizeof(why),
					         "latency_buckets[\"%.30s\"]: not a count >= 0",
					         b->string);
					goto bad;
				}
				v = b->valuedouble;
				if (prom_worker_add_bucket(x, le, v) != 0) {
					snprintf(why, sizeof(why),
					         "latency_buckets: too many buckets");
					goto bad;
				}
			}
			if (x->nbuckets > 0 && !isinf(x->buckets[x->nbuckets - 1].le)) {
				snprintf(why, sizeof(why), "latency_buckets: no \"+Inf\" bucket");
				goto bad;
			}
		}
	}
	return 0;
bad:
	errf(err, errlen, "pod %.60s: %s", p->name ? p->name : "?", why);
	return -1;
}

static int run_trace(const sim_opts_t *o, const autoscale_policy_t *pol, FILE *out, rows_t *rows)
{
	FILE *f = fopen(o->trace, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	size_t lineno = 0;
	autoscale_state_t *st = autoscale_state_new();
	autoscale_pod_t *pods = NULL;
	prevcount_t *prev = NULL, *cur = NULL;
	size_t nprev = 0;
	double prev_t = NAN;
	int rc = 0;

	if (f == NULL || st == NULL) {
		fprintf(stderr, "mcp-autoscaler simulate: %s: %s\n", o->trace,
		        f ? "out of memory" : strerror(errno));
		if (f)
			fclose(f);
		autoscale_state_free(st);
		return 1;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		cJSON *j;
		const cJSON *jp;
		char why[512];
		double t;
		int32_t replicas, pool;
		size_t npods = 0;
		autoscale_input_t in;
		autoscale_decision_t d;
		double load = NAN;

		lineno++;
		if ((size_t)len > MAX_FILE) {
			fprintf(stderr, "mcp-autoscaler simulate: %s:%zu: line too long\n",
			        o->trace, lineno);
			rc = 2;
			break;
		}
		while (len > 0 &&
		       (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
			line[--len] = '\0';
		if (len == 0)
			continue;
		j = cJSON_ParseWithLength(line, (size_t)len);
		if (j == NULL || !cJSON_IsObject(j)) {
			fprintf(stderr, "mcp-autoscaler simulate: %s:%zu: not a JSON object\n",
			        o->trace, lineno);
			cJSON_Delete(j);
			rc = 2;
			break;
		}
		if (json_num(j, "t", &t, true, why, sizeof(why)) != 0 ||
		    json_int(j, "replicas", 0, 1000000, &replicas, why, sizeof(why)) != 0 ||
		    json_int(j, "poolSize", 0, 65535, &pool, why, sizeof(why)) != 0)
			goto bad;
		if (!isnan(prev_t) && t < prev_t) {
			snprintf(why, sizeof(why), "\"t\" %g goes back in time (previous %g)", t,
			         prev_t);
			goto bad;
		}
		jp = cJSON_GetObjectItemCaseSensitive(j, "pods");
		if (!cJSON_IsArray(jp)) {
			snprintf(why, sizeof(why), "missing \"pods\" array");
			goto bad;
		}
		npods = (size_t)cJSON_GetArraySize(jp);
		if (npods > MAX_PODS) {
			snprintf(why, sizeof(why), "more than %d pods", MAX_PODS);
			goto bad;
		}
		{
			autoscale_pod_t *np = realloc(pods, (npods + 1) * sizeof(*np));
			prevcount_t *nc = calloc(npods + 1, sizeof(*nc));
			if (np == NULL || nc == NULL) {
				free(nc);
				if (np)
					pods = np;
				snprintf(why, sizeof(why), "out of memory");
				goto bad;
			}
			pods = np;
			cur = nc;
		}
		{
			size_t i = 0;
			const cJSON *pj;
			double reqs = 0;
			bool any = false;
			cJSON_ArrayForEach(pj, jp)
			{
				if (parse_pod(pj, &pods[i], why, sizeof(why)) != 0) {
					free(cur);
					cur = NULL;
					goto bad;
				}
				/* observed load: +Inf bucket deltas per pod */
				cur[i].name =
				        (char *)pods[i].name; /* borrowed until strdup below */
				cur[i].inf = NAN;
				if (pods[i].has_metrics && pods[i].metrics.nbuckets > 0) {
					const prom_worker_metrics_t *x = &pods[i].metrics;
					cur[i].inf = x->buckets[x->nbuckets - 1].count;
					for (size_t k = 0; k < nprev; k++) {
						if (prev[k].name && !isnan(prev[k].inf) &&
						    strcmp(prev[k].name, pods[i].name) == 0) {
							double dlt = cur[i].inf - prev[k].inf;
							reqs += dlt >= 0 ? dlt : cur[i].inf;
							any = true;
							break;
						}
					}
				}
				i++;
			}
			if (any && !isnan(prev_t) && t > prev_t)
				load = reqs / (t - prev_t);
		}
		memset(&in, 0, sizeof(in));
		in.now = t;
		in.current_replicas = replicas;
		in.current_pool_size = pool;
		in.pods = pods;
		in.npods = npods;
		if (autoscale_decide(pol, st, &in, &d) == AUTOSCALE_ENOMEM) {
			snprintf(why, sizeof(why), "out of memory");
			free(cur);
			cur = NULL;
			goto bad;
		}
		if (d.rescale)
			autoscale_commit(pol, st, &d, replicas, t);
		{
			double p99 = d.metrics[AUTOSCALE_M_P99_LATENCY].valid
			                     ? d.metrics[AUTOSCALE_M_P99_LATENCY].value
			                     : NAN;
			if (emit(out, &d, t, replicas, pool, load, p99) != 0) {
				fprintf(stderr, "mcp-autoscaler simulate: write error\n");
				rc = 1;
			}
			if (rows_add(rows, (row_t){t, load, p99, replicas, d.desired_replicas, pool,
			                           d.desired_pool_size}) != 0)
				rc = 1;
		}
		/* pod names point into j: keep this line's JSON until the next one */
		for (size_t k = 0; k < nprev; k++)
			free(prev[k].name);
		free(prev);
		for (size_t k = 0; k < npods; k++) {
			cur[k].name = cur[k].name ? strdup(cur[k].name) : NULL;
		}
		prev = cur;
		nprev = npods;
		cur = NULL;
		prev_t = t;
		cJSON_Delete(j);
		if (rc != 0)
			break;
		continue;
	bad:
		fprintf(stderr, "mcp-autoscaler simulate: %s:%zu: %s\n", o->trace, lineno, why);
		cJSON_Delete(j);
		rc = 2;
		break;
	}
	if (rc == 0 && ferror(f)) {
		fprintf(stderr, "mcp-autoscaler simulate: %s: read error\n", o->trace);
		rc = 1;
	}
	if (rc == 0 && lineno == 0) {
		fprintf(stderr, "mcp-autoscaler simulate: %s: empty trace\n", o->trace);
		rc = 2;
	}
	for (size_t k = 0; k < nprev; k++)
		free(prev[k].name);
	free(prev);
	free(pods);
	free(line);
	fclose(f);
	autoscale_state_free(st);
	return rc;
}

/* ---- model mode ------------------------------------------------------------------ */

#define MODEL_MAX_STEPS 64
#define MODEL_SAMPLES   400

typedef struct {
	double at, rate, ramp; /* seconds, requests/s, seconds */
} load_step_t;

typedef struct {
	double duration, step, service_time, startup_delay, noise;
	double queue_max; /* per pod; excess requests are rejected (busy) */
	int32_t initial_replicas, initial_pool;
	uint64_t seed;
	size_t nload;
	load_step_t load[MODEL_MAX_STEPS];
	double fail_from, fail_to; /* all scrapes fail in [from, to) */
} model_t;

static const double model_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                      0.1,    0.25,  0.5,    1,     2.5,  5,     INFINITY};
#define NB (sizeof(model_bounds) / sizeof(model_bounds[0]))

typedef struct {
	char name[32];
	double start;      /* created at */
	double backlog;    /* queued requests beyond the stationary queue */
	double counts[NB]; /* per bucket, not cumulative (summed on export) */
	double sum, count; /* latency sum (seconds) and request count */
	double in_use, waiters;
} mpod_t;

/* Reads a duration given as seconds (number) or a string ("30s", "5m"). */
static int model_dur(const cJSON *o, const char *k, double *out, bool required, char *err,
                     size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (v == NULL) {
		if (required)
			errf(err, errlen, "missing \"%s\"", k);
		return required ? -1 : 1;
	}
	if (cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble >= 0) {
		*out = v->valuedouble;
		return 0;
	}
	if (cJSON_IsString(v)) {
		int64_t ns;
		char why[128];
		if (base_parse_duration_ns(v->valuestring, &ns, why, sizeof(why)) != 0) {
			errf(err, errlen, "\"%s\": %s", k, why);
			return -1;
		}
		*out = (double)ns / 1e9;
		return 0;
	}
	errf(err, errlen, "\"%s\" must be seconds or a duration string like \"30s\"", k);
	return -1;
}

static int load_model(const char *path, const autoscale_policy_t *pol, model_t *m, char *err,
                      size_t errlen)
{
	size_t len;
	char *text = read_file(path, &len, err, errlen);
	cJSON *j, *ld, *fail;
	char why[256];
	double v;
	int r;

	if (text == NULL)
		return -1;
	j = cJSON_ParseWithLength(text, len);
	free(text);
	if (j == NULL || !cJSON_IsObject(j)) {
		errf(err, errlen, "%s: not a JSON object", path);
		cJSON_Delete(j);
		return -1;
	}
	memset(m, 0, sizeof(*m));
	m->step = (double)pol->sync_period_ms / 1000.0;
	m->startup_delay = 20;
	m->queue_max = 1000;
	m->initial_replicas = pol->min_replicas;
	m->initial_pool = pol->pool_min_size;
	m->seed = 1;
	m->fail_from = m->fail_to = -1;
	if (model_dur(j, "duration", &m->duration, true, why, sizeof(why)) != 0 ||
	    model_dur(j, "serviceTime", &m->service_time, true, why, sizeof(why)) != 0 ||
	    model_dur(j, "step", &m->step, false, why, sizeof(why)) < 0 ||
	    model_dur(j, "startupDelay", &m->startup_delay, false, why, sizeof(why)) < 0)
		goto bad;
	if (m->duration <= 0 || m->duration > 7 * 86400) {
		snprintf(why, sizeof(why), "\"duration\" must be in (0, 7d]");
		goto bad;
	}
	if (m->step < 0.1 || m->duration / m->step > 1e6) {
		snprintf(why, sizeof(why), "\"step\" must be at least 0.1s and give <= 1e6 steps");
		goto bad;
	}
	if (m->service_time <= 0 || m->service_time > 60) {
		snprintf(why, sizeof(why), "\"serviceTime\" must be in (0, 60s]");
		goto bad;
	}
	r = json_num(j, "noise", &v, false, why, sizeof(why));
	if (r < 0)
		goto bad;
	if (r == 0) {
		if (v < 0 || v >= 1) {
			snprintf(why, sizeof(why), "\"noise\" must be in [0, 1)");
			goto bad;
		}
		m->noise = v;
	}
	r = json_num(j, "queueMax", &v, false, why, sizeof(why));
	if (r < 0)
		goto bad;
	if (r == 0) {
		if (v < 0 || v > 1e9) {
			snprintf(why, sizeof(why), "\"queueMax\" must be in [0, 1e9]");
			goto bad;
		}
		m->queue_max = v;
	}
	r = json_num(j, "seed", &v, false, why, sizeof(why));
	if (r < 0)
		goto bad;
	if (r == 0)
		m->seed = (uint64_t)fabs(v);
	if (cJSON_GetObjectItemCaseSensitive(j, "initialReplicas") &&
	    json_int(j, "initialReplicas", 1, 100000, &m->initial_replicas, why, sizeof(why)) != 0)
		goto bad;
	if (cJSON_GetObjectItemCaseSensitive(j, "initialPoolSize") &&
	    json_int(j, "initialPoolSize", 1, 65535, &m->initial_pool, why, sizeof(why)) != 0)
		goto bad;
	ld = cJSON_GetObjectItemCaseSensitive(j, "load");
	if (!cJSON_IsArray(ld) || cJSON_GetArraySize(ld) == 0) {
		snprintf(why, sizeof(why),
		         "\"load\" must be a non-empty array of "
		         "{\"at\", \"rate\"[, \"ramp\"]}");
		goto bad;
	}
	{
		const cJSON *s;
		cJSON_ArrayForEach(s, ld)
		{
			load_step_t *x;
			char w2[200];
			if (m->nload == MODEL_MAX_STEPS) {
				snprintf(why, sizeof(why), "\"load\": at most %d steps",
				         MODEL_MAX_STEPS);
				goto bad;
			}
			x = &m->load[m->nload];
			if (!cJSON_IsObject(s) ||
			    model_dur(s, "at", &x->at, true, w2, sizeof(w2)) != 0 ||
			    json_num(s, "rate", &x->rate, true, w2, sizeof(w2)) != 0 ||
			    model_dur(s, "ramp", &x->ramp, false, w2, sizeof(w2)) < 0) {
				if (!cJSON_IsObject(s))
					snprintf(w2, sizeof(w2), "not an object");
				snprintf(why, sizeof(why), "\"load\"[%zu]: %s", m->nload, w2);
				goto bad;
			}
			if (x->rate < 0 || x->rate > 1e8) {
				snprintf(why, sizeof(why),
				         "\"load\"[%zu]: rate must be in [0, 1e8]", m->nload);
				goto bad;
			}
			if (m->nload > 0 && x->at < m->load[m->nload - 1].at) {
				snprintf(why, sizeof(why),
				         "\"load\"[%zu]: \"at\" goes back in time", m->nload);
				goto bad;
			}
			m->nload++;
		}
	}
	fail = cJSON_GetObjectItemCaseSensitive(j, "failScrapes");
	if (fail) {
		if (!cJSON_IsObject(fail) ||
		    model_dur(fail, "from", &m->fail_from, true, why, sizeof(why)) != 0 ||
		    model_dur(fail, "to", &m->fail_to, true, why, sizeof(why)) != 0) {
			if (!cJSON_IsObject(fail))
				snprintf(why, sizeof(why),
				         "\"failScrapes\" must be {\"from\", \"to\"}");
			goto bad;
		}
	}
	cJSON_Delete(j);
	return 0;
bad:
	errf(err, errlen, "%s: %s", path, why);
	cJSON_Delete(j);
	return -1;
}

static double model_rate(const model_t *m, double t)
{
	double rate = 0, prev = 0;
	for (size_t i = 0; i < m->nload; i++) {
		const load_step_t *s = &m->load[i];
		if (t < s->at)
			break;
		if (s->ramp > 0 && t < s->at + s->ramp)
			rate = prev + (s->rate - prev) * (t - s->at) / s->ramp;
		else
			rate = s->rate;
		prev = s->rate;
	}
	return rate;
}

/* xorshift64*: deterministic, seedable */
static double rnd(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return (double)((x * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static double expo(uint64_t *s, double mean)
{
	double u = rnd(s);
	if (u < 1e-12)
		u = 1e-12;
	return -log(u) * mean;
}

/* Erlang C: probability that an arrival waits, c servers, offered load a < c. */
static double erlang_c(int c, double a)
{
	double term = 1, sum = 1, pc;
	for (int k = 1; k < c; k++) {
		term *= a / k;
		sum += term;
	}
	term *= a / c;
	pc = term * c / (c - a);
	return pc / (sum + pc);
}

static int run_model(const sim_opts_t *o, const autoscale_policy_t *pol, FILE *out, rows_t *rows)
{
	model_t m;
	char err[512];
	autoscale_state_t *st;
	mpod_t *pods = NULL;
	autoscale_pod_t *in_pods = NULL;
	size_t npods = 0, cap = 0;
	int32_t replicas, pool;
	uint64_t seed, next_id = 0;
	int rc = 0;

	if (load_model(o->model, pol, &m, err, sizeof(err)) != 0) {
		fprintf(stderr, "mcp-autoscaler simulate: invalid model: %s\n", err);
		return 2;
	}
	st = autoscale_state_new();
	if (st == NULL)
		return 1;
	seed = m.seed * 0x9E3779B97F4A7C15ULL + 1;
	replicas = m.initial_replicas;
	pool = m.initial_pool;
	for (double t = 0; t <= m.duration + 1e-9; t += m.step) {
		double rate, load_rate, agg[NB] = {0};
		size_t ready = 0;
		autoscale_input_t in;
		autoscale_decision_t d;
		bool scrape_ok = !(t >= m.fail_from && t < m.fail_to);

		/* the Deployment: converge the pod set on `replicas` */
		while (npods < (size_t)replicas) {
			if (npods == cap) {
				size_t nc = cap ? cap * 2 : 16;
				mpod_t *np = realloc(pods, nc * sizeof(*np));
				autoscale_pod_t *ni = realloc(in_pods, nc * sizeof(*ni));
				if (np)
					pods = np;
				if (ni)
					in_pods = ni;
				if (np == NULL || ni == NULL) {
					rc = 1;
					goto done;
				}
				cap = nc;
			}
			memset(&pods[npods], 0, sizeof(pods[npods]));
			snprintf(pods[npods].name, sizeof(pods[npods].name), "w-%llu",
			         (unsigned long long)next_id++);
			/* the first pods are already up when the simulation starts */
			pods[npods].start = t == 0 ? -600 : t;
			npods++;
		}
		if (npods > (size_t)replicas)
			npods = (size_t)replicas; /* newest pods go first */

		/* one step of load through the pods that are ready */
		rate = model_rate(&m, t);
		if (m.noise > 0)
			rate *= 1 + m.noise * (2 * rnd(&seed) - 1);
		load_rate = rate;
		for (size_t i = 0; i < npods; i++) {
			if (t >= pods[i].start + m.startup_delay)
				ready++;
		}
		for (size_t i = 0; i < npods && ready > 0; i++) {
			mpod_t *p = &pods[i];
			double lam, a, mu = 1.0 / m.service_time, cap_rate, pw = 0, wq_rate = 0;
			double base_wait, n_req, per;
			int c = pool;
			if (t < p->start + m.startup_delay)
				continue;
			lam = rate / (double)ready;
			a = lam * m.service_time;
			cap_rate = c * mu;
			/* backlog grows when arrivals exceed service capacity */
			p->backlog += (lam - cap_rate) * m.step;
			if (p->backlog < 0)
				p->backlog = 0;
			if (p->backlog > m.queue_max)
				p->backlog = m.queue_max;
			if (a < c && p->backlog <= 0) {
				pw = erlang_c(c, a);
				wq_rate = cap_rate - lam;
				p->in_use = a;
				p->waiters = pw * lam /
				             wq_rate; /* Lq = C(c,a) * lambda/(c mu - lambda) */
				base_wait = 0;
			} else {
				pw = 1;
				wq_rate = 0;
				p->in_use = c;
				p->waiters = p->backlog +
				             (a >= c ? 0 : erlang_c(c, a) * lam / (cap_rate - lam));
				base_wait = p->backlog / cap_rate;
			}
			/* latency histogram: sample the sojourn time distribution */
			n_req = lam * m.step;
			per = n_req / MODEL_SAMPLES;
			for (int k = 0; k < MODEL_SAMPLES; k++) {
				double w = base_wait;
				double lat;
				if (rnd(&seed) < pw)
					w += wq_rate > 0 ? expo(&seed, 1.0 / wq_rate)
					                 : expo(&seed, 1.0 / cap_rate);
				lat = w + expo(&seed, m.service_time);
				p->sum += lat * per;
				p->count += per;
				for (size_t b = 0; b < NB; b++) {
					if (lat <= model_bounds[b]) {
						p->counts[b] += per;
						agg[b] += per;
						break;
					}
				}
			}
		}
		/* the controller's view of the pods */
		for (size_t i = 0; i < npods; i++) {
			mpod_t *p = &pods[i];
			autoscale_pod_t *x = &in_pods[i];
			bool up = t >= p->start + m.startup_delay;
			memset(x, 0, sizeof(*x));
			x->name = p->name;
			x->phase = up ? AUTOSCALE_POD_RUNNING : AUTOSCALE_POD_PENDING;
			x->ready = up;
			x->has_start_time = true;
			x->start_time = p->start;
			x->has_ready_transition = up;
			x->ready_transition_time = p->start + m.startup_delay;
			x->has_metrics = up && scrape_ok;
			if (x->has_metrics) {
				double cum = 0;
				x->metrics.pool_size = pool;
				x->metrics.pool_in_use = p->in_use;
				x->metrics.waiters = p->waiters;
				x->metrics.has_latency_sum = true;
				x->metrics.latency_sum = p->sum;
				x->metrics.latency_count = p->count;
				for (size_t b = 0; b < NB; b++) {
					cum += p->counts[b];
					(void)prom_worker_add_bucket(&x->metrics, model_bounds[b],
					                             cum);
				}
			}
		}
		memset(&in, 0, sizeof(in));
		in.now = t;
		in.current_replicas = replicas;
		in.current_pool_size = pool;
		in.pods = in_pods;
		in.npods = npods;
		if (autoscale_decide(pol, st, &in, &d) != 0) {
			fprintf(stderr, "mcp-autoscaler simulate: t=%g: %s\n", t, d.reason);
			rc = 1;
			goto done;
		}
		if (d.rescale)
			autoscale_commit(pol, st, &d, replicas, t);
		{
			double p99 = NAN, tot = 0;
			prom_bucket_t b[NB];
			for (size_t k = 0; k < NB; k++) {
				tot += agg[k];
				b[k].le = model_bounds[k];
				b[k].count = tot;
			}
			if (tot > 0)
				p99 = prom_histogram_quantile(0.99, b, NB);
			if (emit(out, &d, t, replicas, pool, load_rate, p99) != 0 ||
			    rows_add(rows, (row_t){t, load_rate, p99, replicas, d.desired_replicas,
			                           pool, d.desired_pool_size}) != 0) {
				fprintf(stderr, "mcp-autoscaler simulate: write error\n");
				rc = 1;
				goto done;
			}
		}
		replicas = d.desired_replicas;
		pool = d.desired_pool_size;
	}
done:
	free(pods);
	free(in_pods);
	autoscale_state_free(st);
	return rc;
}

/* ---- entry ------------------------------------------------------------------------ */

int simulate_main(int argc, char **argv)
{
	sim_opts_t o;
	bool seen[sizeof(sim_table) / sizeof(sim_table[0])];
	autoscale_policy_t pol;
	char err[4096];
	rows_t rows = {NULL, 0, 0};
	FILE *out = stdout;
	int rc;

	memset(&o, 0, sizeof(o));
	rc = base_opt_main(sim_table, &o, seen, argc, argv, NULL, "mcp-autoscaler simulate",
	                   sim_usage, MCP_VERSION);
	if (rc == 1) {
		if (argc > 1 && strcmp(argv[1], "--version") != 0) {
			printf("\n");
			autoscale_policy_help(stdout);
		}
		return 0;
	}
	if (rc == 2)
		return 2;
	if (o.policy[0] == '\0') {
		fprintf(stderr,
		        "mcp-autoscaler simulate: --policy FILE is required (see --help)\n");
		return 2;
	}
	if ((o.trace[0] == '\0') == (o.model[0] == '\0')) {
		fprintf(stderr, "mcp-autoscaler simulate: give exactly one of --trace FILE or "
		                "--model FILE\n");
		return 2;
	}
	if (load_policy(o.policy, &pol, err, sizeof(err)) != 0) {
		fprintf(stderr, "mcp-autoscaler simulate: %s\n", err);
		return 2;
	}
	if (o.output[0]) {
		out = fopen(o.output, "w");
		if (out == NULL) {
			fprintf(stderr, "mcp-autoscaler simulate: %s: %s\n", o.output,
			        strerror(errno));
			return 1;
		}
	}
	rc = o.trace[0] ? run_trace(&o, &pol, out, &rows) : run_model(&o, &pol, out, &rows);
	if (out != stdout && fclose(out) != 0 && rc == 0) {
		fprintf(stderr, "mcp-autoscaler simulate: %s: write error\n", o.output);
		rc = 1;
	}
	if (rc == 0 && o.plot[0]) {
		char title[512];
		const char *src = o.trace[0] ? o.trace : o.model;
		const char *base = strrchr(src, '/');
		snprintf(title, sizeof(title), "mcp-autoscaler simulate: %.120s, %s %.200s",
		         pol.scale_target_name, o.trace[0] ? "trace" : "model",
		         base ? base + 1 : src);
		rc = plot(o.plot, &rows, &pol, title);
	}
	free(rows.v);
	return rc;
}
