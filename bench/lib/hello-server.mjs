// The hello-world baseline: Fastify with one GET and one POST route, in its
// own process, answering as the API would (JSON in, JSON out) and nothing else.
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/hello', async () => ({ hello: 'world' }));
app.post('/hello', async (request, reply) => reply.code(202).send({ accepted: 1, received: typeof request.body }));
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
process.stdout.write(`listening ${app.server.address().port}\n`);
process.once('SIGTERM', () => app.close().then(() => process.exit(0)));
