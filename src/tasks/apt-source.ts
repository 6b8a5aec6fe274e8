import path from 'node:path';
import type { Change, Task } from '../engine/task.js';
import { shq } from '../quote.js';
import { unifiedDiff } from '../util/unified-diff.js';
import { atomicWrite, base64Of, parseContent, tempBeside } from './lib/file.js';
import { keyValues, sections } from './lib/parse.js';
import { OS_PROBE, type OsRelease, parseOsRelease } from './os-release.js';

/** An upstream apt repository: where its signing key comes from and the one-line source that trusts it. */
export interface AptSourceSpec {
  /** "tailscale", "cloudflared", "docker": the task id is apt-source:<name>. */
  name: string;
  keyUrl(os: OsRelease): string;
  keyPath: string;
  listPath: string;
  listLine(os: OsRelease): string;
}

export interface AptSourceState {
  os: OsRelease;
  hasKey: boolean;
  /** Current content of the list file; null when it does not exist. */
  list: string | null;
}

/** Tailscale's layout (scripts/installer.sh): one key and one suite per distribution codename. */
export function tailscaleSource(base: string): AptSourceSpec {
  const keyPath = '/usr/share/keyrings/tailscale-archive-keyring.gpg';
  return {
    name: 'tailscale',
    keyUrl: (o) => `${base}/${o.os}/${o.codename}.noarmor.gpg`,
    keyPath,
    listPath: '/etc/apt/sources.list.d/tailscale.list',
    listLine: (o) => `deb [signed-by=${keyPath}] ${base}/${o.os} ${o.codename} main`,
  };
}

/** Cloudflare's layout: one key, the suite `any` for every distribution. */
export function cloudflaredSource(base: string): AptSourceSpec {
  const keyPath = '/usr/share/keyrings/cloudflare-main.gpg';
  return {
    name: 'cloudflared',
    keyUrl: () => `${base}/cloudflare-main.gpg`,
    keyPath,
    listPath: '/etc/apt/sources.list.d/cloudflared.list',
    listLine: () => `deb [signed-by=${keyPath}] ${base}/cloudflared any main`,
  };
}

/** Docker's layout (docs: engine/install/debian.md, ubuntu.md): an ASCII key per distribution. */
export function dockerSource(base: string): AptSourceSpec {
  const keyPath = '/etc/apt/keyrings/docker.asc';
  return {
    name: 'docker',
    keyUrl: (o) => `${base}/${o.os}/gpg`,
    keyPath,
    listPath: '/etc/apt/sources.list.d/docker.list',
    listLine: (o) => `deb [arch=${o.arch} signed-by=${keyPath}] ${base}/${o.os} ${o.codename} stable`,
  };
}

export function parseAptSource(stdout: string): AptSourceState {
  const s = sections(stdout);
  const kv = keyValues(s.get('files') ?? '');
  const list = kv.get('list') ?? 'MISSING';
  return {
    os: parseOsRelease(s.get('os') ?? ''),
    hasKey: kv.get('key') === 'yes',
    list: parseContent(list),
  };
}

/**
 * Idempotency limit: a key file that exists and is not empty counts as right (comparing it would
 * mean downloading it on every probe); the list line naming that keyring is the real check.
 * Delete the key file to fetch a rotated key.
 */
export function diffAptSource(spec: AptSourceSpec, s: AptSourceState): Change[] {
  const changes: Change[] = [];
  if (!s.hasKey)
    changes.push({
      summary: `add ${spec.name} signing key ${spec.keyPath} from ${spec.keyUrl(s.os)}`,
      kind: 'key-missing',
      expected: spec.keyPath,
      actual: null,
    });
  const want = `${spec.listLine(s.os)}\n`;
  if (s.list !== want)
    changes.push({
      summary: `${s.list === null ? 'add' : 'update'} apt source ${spec.listPath} (${s.os.os} ${s.os.codename})`,
      kind: s.list === null ? 'source-missing' : 'source-content',
      diff: unifiedDiff(s.list ?? '', want, spec.listPath),
    });
  return changes;
}

/** Downloads to a temp file beside the key and renames, so a failed download never leaves a half key. */
export function aptSourceScript(spec: AptSourceSpec, s: AptSourceState): string {
  const keyDir = path.posix.dirname(spec.keyPath);
  const lines = [`mkdir -p --mode=0755 ${shq(keyDir)}`];
  if (!s.hasKey)
    lines.push(
      // A download, not stdin, fills this temp file: atomicWrite's rename, spelled out.
      tempBeside(spec.keyPath),
      `if ! curl -fsSL --retry 3 -o "$tmp" ${shq(spec.keyUrl(s.os))} || [ ! -s "$tmp" ]; then rm -f "$tmp"; echo ${shq(`could not download ${spec.keyUrl(s.os)}`)} >&2; exit 1; fi`,
      `chmod 0644 "$tmp" && mv -f "$tmp" ${shq(spec.keyPath)}`,
    );
  lines.push(atomicWrite({ path: spec.listPath, mode: '644' }));
  return lines.join('\n');
}

/** Keyring plus source list for one upstream repository; packages come from it in a later task. */
export function aptSourceTask(spec: AptSourceSpec, after: string[] = []): Task<AptSourceState> {
  return {
    id: `apt-source:${spec.name}`,
    after,
    probe: [
      'echo @@os',
      OS_PROBE,
      'echo @@files',
      `if [ -s ${shq(spec.keyPath)} ]; then echo key=yes; else echo key=no; fi`,
      `if [ -f ${shq(spec.listPath)} ]; then echo "list=$(${base64Of(spec.listPath)})"; else echo list=MISSING; fi`,
    ].join('\n'),
    parse: parseAptSource,
    diff: (s) => diffAptSource(spec, s),
    // The list line goes on stdin, to the atomic write that ends the script.
    apply: (s) => [
      { script: aptSourceScript(spec, s), stdin: `${spec.listLine(s.os)}\n`, timeoutMs: 120_000 },
    ],
  };
}
