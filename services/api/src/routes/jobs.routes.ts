import { errorSchema, jobParams, jobSchema, notFound, type JobProducer, type JobRecordsRepository } from '@deeplens/shared';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Live state from Redis while it holds the job; the platform database's record after that. */
export const jobsRoutes: FastifyPluginAsyncTypebox<{ producer: JobProducer; jobRecords: JobRecordsRepository }> = async (
  app,
  { producer, jobRecords },
) => {
  app.get(
    '/v1/jobs/:jobId',
    {
      config: { access: 'admin' },
      schema: { tags: ['jobs'], summary: 'A background job: state, progress, result or error', params: jobParams, response: { 200: jobSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema } },
    },
    async (request) => {
      const { jobId } = request.params;
      if (!UUID.test(jobId)) throw notFound(`no job ${jobId}`);
      const job = (await producer.find(jobId)) ?? (await jobRecords.find(jobId));
      if (!job) throw notFound(`no job ${jobId}`);
      return job;
    },
  );
};
