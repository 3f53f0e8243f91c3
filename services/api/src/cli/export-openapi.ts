// `npm run openapi`: writes the OpenAPI document the routes generate to docs/openapi.json
// (or the path given). It builds the real app, so it needs PostgreSQL and Redis as
// `npm start` does, and migrates first as `npm start` does.
import { writeFile } from 'node:fs/promises';
import { baseEnvSchema, createLogger, migratePlatform, parseEnv } from '@deeplens/shared';
import { openApiDocument, openApiText } from '../openapi-export.js';

const env = { NODE_ENV: 'development', LOG_LEVEL: 'error', ...process.env };
const parsed = parseEnv(baseEnvSchema, env);
await migratePlatform(parsed, createLogger({ name: 'openapi', level: parsed.LOG_LEVEL }));
const target = process.argv[2] ?? 'docs/openapi.json';
await writeFile(target, openApiText(await openApiDocument(env)));
process.stdout.write(`wrote ${target}\n`);
process.exit(0);
