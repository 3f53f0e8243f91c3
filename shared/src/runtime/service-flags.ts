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
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];
