#!/usr/bin/env node
// `npm run backup:platform -- --out <file>`: a pg_dump (custom format) of the
// platform database into a file, streamed, with its size and SHA-256 printed
// as JSON on stdout. Restore it with `pg_restore --dbname=<url> <file>`.
import { createWriteStream } from 'node:fs';
import { rename } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { baseEnvSchema, parseEnv, parseEnvOrExit } from '../config/env.js';
import { withDatabase } from '../db/connection-uri.js';
import { platformNames } from '../db/names.js';
import { DigestStream } from '../backups/digest-stream.js';
import { spawnPgDump } from '../backups/pg-tools.js';

let out: string | undefined;
try {
  ({
    values: { out },
  } = parseArgs({ options: { out: { type: 'string' } } }));
} catch (error) {
  process.stderr.write(`backup:platform: ${(error as Error).message}\n`);
  process.exit(64);
}
if (!out) {
  process.stderr.write('usage: npm run backup:platform -- --out <file>\n');
  process.exit(64); // EX_USAGE
}

const env = parseEnvOrExit('backup:platform', () => parseEnv(baseEnvSchema, process.env, [], { holdsSecrets: false }));

const database = platformNames(env.DEEPLENS_DB_PREFIX).platformDatabase;
const partial = `${out}.partial`;
try {
  const dump = spawnPgDump(withDatabase(env.DATABASE_URL, database));
  const digest = new DigestStream();
  // Written beside the target and renamed when pg_dump has succeeded: a failed run leaves no file that looks whole.
  await Promise.all([pipeline(dump.stdout, digest, createWriteStream(partial)), dump.done]);
  await rename(partial, out);
  process.stdout.write(`${JSON.stringify({ database, file: out, sizeBytes: digest.bytes, sha256: digest.sha256 })}\n`);
} catch (error) {
  process.stderr.write(`backup:platform: ${(error as Error).message}\n`);
  process.exitCode = 1;
}
