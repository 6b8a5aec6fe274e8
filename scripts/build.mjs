#!/usr/bin/env node
// The build: the CLI bundled into dist/ by esbuild (types are checked by `npm run typecheck`).
//
// Why a bundle: Node 20 resolves and loads every ES module on its own, and the CLI with its
// libraries is about 200 files: ~100 ms of start-up on every command, spent before the first SSH
// packet. The commands, the SSH transport and the roles stay separate chunks loaded on demand
// (`infra --help` never loads ssh2; the roles load while the SSH handshakes are under way).
// dist/ has no sub-folders: src/paths.ts finds templates/ and lab/ one level up from it.
// Every library is bundled except the externals below, so package.json's `dependencies` lists only
// those (what `npm install -g` of the package must fetch); the others are devDependencies.
// test/package/pack.test.ts checks that every bare import left in dist/ is a dependency.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

/**
 * commander requires node:child_process at load, for executable sub-commands infra never has;
 * loading it (with net, dgram and the rest it pulls in) is about a third of what `infra --help`
 * costs over a bare `node -e 0`. commander gets a stand-in that loads the real module on first use.
 */
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      args.importer.includes('/node_modules/commander/')
        ? { path: 'child_process', namespace: 'infra-lazy' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'infra-lazy' }, () => ({
      contents:
        "let real; module.exports = new Proxy({}, { get: (_, key) => (real ??= require('node:child_process'))[key] });",
      loader: 'js',
    }));
  },
};

rmSync('dist', { recursive: true, force: true });
await build({
  entryPoints: ['src/cli.ts'],
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // ssh2 loads optional native crypto bindings by path: it and its wrapper stay in node_modules.
  external: ['ssh2', 'node-ssh'],
  // Bundled CommonJS libraries (commander, yaml) call require() for Node's built-ins.
  banner: {
    js: "import { createRequire as infraCreateRequire } from 'node:module'; const require = infraCreateRequire(import.meta.url);",
  },
  plugins: [lazyChildProcess],
  sourcemap: true,
  logLevel: 'warning',
});
