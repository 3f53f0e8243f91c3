// The contract's job, as the API answers it (a type only: the CLI loads nothing of shared at run time for it).
import type { JobView } from '@deeplens/shared';
import { type ApiClient, CliError, ExitCode } from './api-client.js';

export interface WaitOptions {
  /** What the line says is happening: "provisioning acme-corp". */
  label: string;
  timeoutMs: number;
  pollMs?: number;
  stderr?: NodeJS.WriteStream;
}

const stepOf = (progress: unknown): string | null =>
  progress && typeof progress === 'object' && 'step' in progress ? String((progress as { step: unknown }).step) : null;

/**
 * Polls GET /v1/jobs/:id until the job is completed or failed, keeping one
 * live progress line on stderr: rewritten in place on a terminal, printed
 * once per change otherwise (so a log of a script run stays readable).
 */
export async function waitForJob(client: ApiClient, jobId: string, options: WaitOptions): Promise<JobView> {
  const stderr = options.stderr ?? process.stderr;
  const pollMs = options.pollMs ?? Number(process.env.DEEPLENS_CLI_POLL_MS || 500);
  const started = Date.now();
  const live = Boolean(stderr.isTTY);
  let last = '';
  const show = (line: string, final = false) => {
    if (live) stderr.write(`\r\x1b[K${line}${final ? '\n' : ''}`);
    else if (line !== last) stderr.write(`${line}\n`);
    last = line;
  };
  for (;;) {
    const { body: job } = await client.get<JobView>(`/v1/jobs/${encodeURIComponent(jobId)}`);
    const step = stepOf(job.progress);
    const attempt =
      job.maxAttempts > 1 && job.attempts > 0
        ? ` · attempt ${Math.min(job.attempts + (job.state === 'active' ? 1 : 0), job.maxAttempts)}/${job.maxAttempts}`
        : '';
    const seconds = live ? ` · ${Math.round((Date.now() - started) / 1000)}s` : '';
    const done = job.state === 'completed' || job.state === 'failed';
    show(`${options.label}: ${job.state}${step && !done ? ` · ${step}` : ''}${attempt}${seconds}`, done);
    if (done) return job;
    if (Date.now() - started > options.timeoutMs) {
      if (live) stderr.write('\n');
      throw new CliError(
        `job ${jobId} is still ${job.state} after ${Math.round(options.timeoutMs / 1000)}s; follow it with GET /v1/jobs/${jobId}`,
        ExitCode.failed,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** A failed job is the command's failure: its code and message in one line, exit 1. */
export function failIfJobFailed(job: JobView, what: string): void {
  if (job.state === 'failed') {
    throw new CliError(
      `${what} failed: ${job.error ? `${job.error.code}: ${job.error.message}` : 'no reason recorded'}`,
      ExitCode.failed,
    );
  }
}
