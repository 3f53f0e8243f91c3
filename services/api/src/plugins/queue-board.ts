import { createHash, timingSafeEqual } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { queueNames, type AppError, type JobProducer } from '@deeplens/shared';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { RateLimiter } from './rate-limit.js';

const QUEUE_BOARD_PREFIX = '/admin/queues';

interface QueueBoardOptions {
  producer: JobProducer;
  adminTokens: readonly string[];
  /** Failed logins count against the client's address here too: the Basic password is an admin token to guess. */
  limiter: RateLimiter;
}

const digest = (token: string) => createHash('sha256').update(token).digest();

/**
 * bull-board over every queue of the catalog, at /admin/queues, for admin
 * tokens only. A browser cannot add a bearer header, so the board also takes
 * HTTP Basic auth whose password is an admin token (any user name): the
 * browser asks once and sends it with every page, asset and API call of the
 * board. Nothing is stored server-side, no token appears in a URL (where it
 * would reach logs and history), and it stays within the board: the rest of
 * the API accepts bearer tokens only. Serve it over TLS, like every token.
 */
async function queueBoardPlugin(app: FastifyInstance, options: QueueBoardOptions) {
  const admins = options.adminTokens.map(digest);
  const isAdmin = (presented: string) => {
    const candidate = digest(presented);
    let found = false;
    for (const known of admins) found = timingSafeEqual(known, candidate) || found;
    return found;
  };
  const presentedToken = (request: FastifyRequest): string | null => {
    const header = request.headers.authorization;
    if (typeof header !== 'string') return null;
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (bearer) return bearer[1]!;
    const basic = /^Basic\s+(\S+)\s*$/i.exec(header);
    if (!basic) return null;
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 ? decoded.slice(colon + 1) : null;
  };

  // The board's own routes declare no access; the API's auth would refuse to start. They are
  // "public" to it because this plugin checks every one of them itself, below.
  app.addHook('onRoute', (route) => {
    if (route.url === QUEUE_BOARD_PREFIX || route.url.startsWith(`${QUEUE_BOARD_PREFIX}/`)) {
      route.config = { ...(route.config as object), access: 'public' };
    }
  });

  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(QUEUE_BOARD_PREFIX);
  createBullBoard({
    queues: queueNames.map((name) => new BullMQAdapter(options.producer.queue(name))),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'DeepLens queues' } },
  });

  await app.register(async (board) => {
    board.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      const token = presentedToken(request);
      if (token && isAdmin(token)) return;
      const limited = await new Promise<AppError | undefined>((settled) =>
        options.limiter.refuse(request.ip, reply, undefined, settled),
      );
      if (limited) return reply.code(limited.httpStatus).send({ error: limited.toBody() });
      return reply
        .code(401)
        .header('www-authenticate', 'Basic realm="DeepLens queues", charset="UTF-8"')
        .send({
          error: {
            code: 'unauthorized',
            message: 'the queue board needs an admin token (bearer, or as the Basic auth password)',
          },
        });
    });
    await board.register(serverAdapter.registerPlugin(), { prefix: QUEUE_BOARD_PREFIX });
  });
}

export default fp(queueBoardPlugin, { name: 'queue-board' });
