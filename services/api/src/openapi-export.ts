import { buildApp } from './app.js';
import { loadApiEnv } from './config.js';
import { openApiDeps } from './deps.js';

/**
 * The OpenAPI document as the routes generate it, for docs/openapi.json.
 * It is built by the real app (so it cannot describe routes that do not
 * exist), which needs PostgreSQL and Redis to answer as for `npm start`.
 * The API's OpenAPI test compares the committed file with this output, so a
 * route changed without `npm run openapi` fails CI.
 */
export async function openApiDocument(env: Record<string, string | undefined> = process.env): Promise<unknown> {
  const { deps, close } = await openApiDeps(loadApiEnv(env));
  try {
    const app = await buildApp(deps);
    await app.ready();
    const document = app.swagger();
    await app.close();
    return document;
  } finally {
    await close();
  }
}

/** Stable text: two-space JSON with a final newline, as the file is committed. */
export const openApiText = (document: unknown) => `${JSON.stringify(document, null, 2)}\n`;
