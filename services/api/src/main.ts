import { followParentProcess, parseEnvOrExit } from '@deeplens/shared';
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { loadApiEnv } from './config.js';
import { openApiDeps } from './deps.js';

const env = parseEnvOrExit('api', () => loadApiEnv());

const { deps, close } = await openApiDeps(env);
const app = await buildApp(deps);

// SIGTERM/SIGINT: stop accepting, let requests in flight finish, then close pools.
closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'closing after an error');
  else app.log.info({ signal }, 'shutting down');
  await app.close();
  await close();
});

followParentProcess();
await app.listen({ host: env.HOST, port: env.PORT });
