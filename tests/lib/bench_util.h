/* tests/lib/bench_util: small helpers the benchmarks (tests/bench) share.
 * Plain functions, no state; the caller owns every array it passes. */
#ifndef MCP_TESTS_BENCH_UTIL_H
#define MCP_TESTS_BENCH_UTIL_H

#include <sys/types.h>

/* qsort comparator: doubles, ascending. */
int bench_cmp_double(const void *a, const void *b);

/* Median of v[0..n-1] (n > 0); sorts v in place. For an even n, the mean
 * of the two middle values. */
double bench_median(double *v, int n);

/* Peak resident set (VmHWM) of process pid, 0 for this one, in MiB; -1 when
 * /proc cannot be read. */
double bench_hwm_mib(pid_t pid);

#endif
