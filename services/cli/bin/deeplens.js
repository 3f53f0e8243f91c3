#!/usr/bin/env node
// `deeplens` (and `npx deeplens` from the repository): runs the built CLI.
// After `npm ci`, `npm run build` (or `npm start`) builds it.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(fileURLToPath(built))) {
  process.stderr.write('deeplens: the CLI is not built yet; run `npm run build` in the repository first\n');
  process.exit(2);
}
await import(built.href);
