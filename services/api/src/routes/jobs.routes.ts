import {
  errorSchema,
  jobParams,
  jobSchema,
  notFound,
  type JobProducer,
  type JobRecordsRepository,
  type Outbox,
} from '@deeplens/shared';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Live state from Redis while it holds the job; `waiting` from the outbox
 * while a committed job has not reached Redis yet (Redis failed after the
 * commit: the sweep will queue it); the platform database's record after that.
 */
export const jobsRoutes: FastifyPluginAsyncTypebox<{
  producer: JobProducer;
  outbox: Outbox;
  jobRecords: JobRecordsRepository;
}> = async (app, { producer, outbox, jobRecords }) => {
  app.get(
    '/v1/jobs/:jobId',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['jobs'],
        summary: 'A background job: state, progress, result or error',
        params: jobParams,
        response: { 200: jobSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema },
      },
    },
    async (request) => {
      const { jobId } = request.params;
      if (!UUID.test(jobId)) throw notFound(`no job ${jobId}`);
      const live = await producer
        .find(jobId)
        .catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))));
      if (live instanceof Error) {
        // Redis down: a job still in the outbox is answered all the same; any other waits for Redis (503).
        const waiting = await outbox.findJob(jobId);
        if (waiting) return waiting;
        throw live;
      }
      if (live) return live;
      const job = (await outbox.findJob(jobId)) ?? (await jobRecords.find(jobId));
      if (job) return job;
      throw notFound(`no job ${jobId}`);
    },
  );
};
