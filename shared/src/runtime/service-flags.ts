/**
 * Node flags every DeepLens service runs with: `npm start`, the benchmark
 * and the tests pass them to each service process, and the container image
 * sets the same in NODE_OPTIONS (infra/docker/Dockerfile; a test keeps the
 * two equal).
 *
 * --max-semi-space-size=4 (MiB, default 16): once a burst has grown them, V8
 * keeps both semi-spaces of its young generation committed; smaller ones
 * keep the resident size down without costing throughput (BENCHMARKS.md,
 * memory).
 *
 * --max-old-space-size=128 (MiB): on a machine with a lot of memory V8 lets
 * the old generation fill with garbage before it collects, so a service's
 * resident size grows far past its live heap. The services' live heaps stay
 * well under the limit; a deployment with a memory limit of its own sets
 * NODE_OPTIONS.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--max-old-space-size=128'];
