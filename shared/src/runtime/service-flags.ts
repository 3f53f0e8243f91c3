/**
 * Node flags every DeepLens service runs with: `npm start`, the benchmark
 * and the tests pass them to each service process, and the container image
 * sets the same in NODE_OPTIONS (infra/docker/Dockerfile; a test keeps the
 * two equal).
 *
 * --max-semi-space-size=4 (MiB, default 16): V8's young generation keeps
 * two semi-spaces of this size committed once a burst has grown them. After
 * the ingest benchmark the API held 105 MB of heap for 62 MB in use; with 4
 * MiB its RSS fell from 164-172 MB to 142-144 MB, and quota and intake
 * throughput did not move beyond the run-to-run noise (bench, same run).
 *
 * --max-old-space-size=128 (MiB): on a machine with a lot of memory V8 lets
 * the old generation fill with garbage before it collects. After the intake,
 * quota and ingest benchmarks the API's RSS was 188-206 MB with 135 MB of
 * heap "used" and about 40 MB of it live; with the limit it was 116 MB (heap
 * 40 of 54 MB), and throughput did not move beyond the noise. The services
 * keep well under the limit when live (the largest, the API, ~40 MB under
 * load); a deployment with a memory limit of its own sets NODE_OPTIONS.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--max-old-space-size=128'];
