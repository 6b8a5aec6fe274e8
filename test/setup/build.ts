import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * vitest globalSetup: tests that run the CLI as an operator does (`node bin/infra.js`) need the
 * bundle in dist/, which a fresh clone does not have. It is built here when missing or older than
 * any of its sources, so `npx vitest run test/unit` works right after `npm ci` and never tests a
 * stale bundle; after `npm run build` (as in `npm test`) this costs one directory walk.
 */
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function newest(p: string): number {
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(st.mtimeMs, ...readdirSync(p).map((f) => newest(path.join(p, f))));
}

export default function setup(): void {
  const bundle = path.join(REPO, 'dist', 'cli.js');
  const sources = ['src', 'scripts/build.mjs', 'package.json'].map((p) => path.join(REPO, p));
  if (existsSync(bundle) && statSync(bundle).mtimeMs >= Math.max(...sources.map(newest))) return;
  const r = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: REPO, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`the build (node scripts/build.mjs) failed:\n${r.stderr}${r.stdout}`);
}
