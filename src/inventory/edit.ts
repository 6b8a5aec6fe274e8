import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Document, isMap, isScalar, type Node, type Scalar, stringify, type YAMLMap } from 'yaml';
import { InfraError } from '../errors.js';
import { formatProblem, parseInventoryText } from './parse.js';
import { APP_NAME, type InventoryDoc, PG_MAJORS } from './schema.js';

/**
 * Inventory edits through the `yaml` Document API: only the touched node changes, so every
 * comment, blank line and key order elsewhere survives byte for byte. Each edit re-validates the
 * whole text with the loader's own parser and throws an InfraError (one line) instead of
 * returning an inventory that would not load.
 */

export interface NewApp {
  name: string;
  postgres: number;
  /** Omitted: the only host with role apps. */
  host?: string;
}

/**
 * An app's name becomes a compose project and a docker network: it must not be one of the role
 * stacks' projects or one of Docker's own networks.
 */
export const RESERVED_APP_NAMES = [
  'alloy',
  'observability',
  'glitchtip',
  'dokploy',
  'infra',
  'bridge',
  'host',
  'none',
];

export function checkAppName(name: string): void {
  if (!APP_NAME.test(name))
    throw new InfraError(
      `invalid app name ${JSON.stringify(name)}: expected lowercase letters, digits and dashes, starting with a letter (at most 31)`,
    );
  if (RESERVED_APP_NAMES.includes(name))
    throw new InfraError(
      `app name ${JSON.stringify(name)} is reserved (a role stack or a Docker network): expected another name than ${RESERVED_APP_NAMES.join(', ')}`,
    );
}

export function checkPgMajor(raw: string | number): number {
  const v = Number(raw);
  if (!Number.isInteger(v) || !(PG_MAJORS as readonly number[]).includes(v))
    throw new InfraError(
      `unsupported PostgreSQL version ${JSON.stringify(String(raw))}: expected a major from ${PG_MAJORS[0]} to ${PG_MAJORS.at(-1)}`,
    );
  return v;
}

/** Pure: inventory text + a new app in, the edited text out. */
export function addAppText(text: string, app: NewApp): { text: string; host: string } {
  checkAppName(app.name);
  const major = checkPgMajor(app.postgres);
  const { doc, yaml } = validated(text);
  const hosts = doc.hosts;
  if (doc.apps[app.name])
    throw new InfraError(`app ${app.name} already exists in the inventory (on ${doc.apps[app.name]!.host})`);
  const appHosts = Object.keys(hosts).filter((h) => hosts[h]!.role === 'apps');
  let host = app.host;
  if (host === undefined) {
    if (appHosts.length !== 1)
      throw new InfraError(
        `choose a host with --host: ${appHosts.length ? `hosts with role apps: ${appHosts.join(', ')}` : 'no host has role apps'}`,
      );
    host = appHosts[0]!;
  } else if (!hosts[host]) {
    throw new InfraError(
      `no host named ${JSON.stringify(host)}: expected one of ${Object.keys(hosts).join(', ')}`,
    );
  } else if (hosts[host]!.role !== 'apps') {
    throw new InfraError(
      `host ${host} has role ${hosts[host]!.role}: expected a host with role apps (${appHosts.join(', ') || 'none'})`,
    );
  }
  const out = insertMapEntry(text, yaml, 'apps', app.name, { host, postgres: major });
  const after = revalidated(out);
  if (after.apps[app.name]?.host !== host || after.apps[app.name]?.postgres !== major)
    throw new Error(`bug: the edited inventory does not hold app ${app.name}`);
  return { text: out, host };
}

export function removeAppText(text: string, name: string): string {
  checkAppName(name);
  const { doc, yaml } = validated(text);
  if (!doc.apps[name]) throw new InfraError(`no app named ${name} in the inventory`);
  const out = removeMapEntry(text, yaml, 'apps', name);
  if (revalidated(out).apps[name]) throw new Error(`bug: app ${name} still in the edited inventory`);
  return out;
}

export function setAppPostgresText(text: string, name: string, major: number): string {
  const v = checkPgMajor(major);
  const { doc, yaml } = validated(text);
  if (!doc.apps[name]) throw new InfraError(`no app named ${name} in the inventory`);
  const node = yaml.getIn(['apps', name, 'postgres'], true) as Scalar;
  const [start, end] = node.range!;
  const out = text.slice(0, start) + String(v) + text.slice(end);
  if (revalidated(out).apps[name]?.postgres !== v) throw new Error('bug: postgres version not set');
  return out;
}

function validated(text: string) {
  const r = parseInventoryText(text);
  if (!r.ok)
    throw new InfraError(
      `the inventory is invalid; fix it first: ${r.problems.map((p) => formatProblem('inventory', p)).join('; ')}`,
    );
  return { doc: r.doc, yaml: r.yaml };
}

function revalidated(text: string): InventoryDoc {
  const r = parseInventoryText(text);
  if (!r.ok)
    throw new InfraError(
      `the edit would make the inventory invalid: ${r.problems.map((p) => formatProblem('inventory', p)).join('; ')}`,
    );
  return r.doc;
}

const lineStart = (text: string, at: number) => text.lastIndexOf('\n', at - 1) + 1;
const lineEnd = (text: string, at: number) => {
  const i = text.indexOf('\n', at);
  return i < 0 ? text.length : i + 1;
};

/**
 * The document says where the map and its entries are (node ranges); the text outside the
 * spliced span is kept as is. (yaml's own toString re-flows comments, e.g. moves `key: # note`
 * onto its own line, which a byte-for-byte diff of the file would show.) The new entry itself is
 * rendered by `yaml` from a value, never from concatenated user strings.
 */
function insertMapEntry(text: string, doc: Document, key: string, name: string, value: object): string {
  const map = doc.get(key, true);
  const entry = (indent: number) =>
    stringify({ [name]: value }, { indent: 2 })
      .trimEnd()
      .split('\n')
      .map((l) => ' '.repeat(indent) + l)
      .join('\n');
  if (isMap(map) && !map.flow && map.items.length > 0) {
    const first = map.items[0]!.key as Node;
    const indent = first.range![0] - lineStart(text, first.range![0]);
    const last = map.items.at(-1)!;
    const lastEnd = ((last.value as Node | null)?.range ?? (last.key as Node).range)![1];
    const at = lineEnd(text, Math.max(lastEnd - 1, 0));
    const sep = at > 0 && text[at - 1] !== '\n' ? '\n' : '';
    return `${text.slice(0, at)}${sep}${entry(indent)}\n${text.slice(at)}`;
  }
  const pair = isMap(doc.contents)
    ? doc.contents.items.find((p) => isScalar(p.key) && p.key.value === key)
    : undefined;
  if (!pair) {
    const sep = text.length === 0 || text.endsWith('\n') ? '' : '\n';
    return `${text}${sep}\n${key}:\n${entry(2)}\n`;
  }
  // `apps:` with no value, or `apps: {}`: replace the rest of the key's line with a block.
  const keyNode = pair.key as Node;
  const keyLineEnd = lineEnd(text, keyNode.range![0]);
  const valueEnd = Math.max((pair.value as Node | null)?.range?.[1] ?? 0, keyLineEnd - 1);
  const indent = keyNode.range![0] - lineStart(text, keyNode.range![0]);
  const end = lineEnd(text, valueEnd - 1);
  const comment = /#.*$/.exec(text.slice(keyNode.range![1], keyLineEnd).trimEnd())?.[0];
  return `${text.slice(0, keyNode.range![1])}:${comment ? ` ${comment}` : ''}\n${entry(indent + 2)}\n${text.slice(end)}`;
}

/** Removes the entry's lines (key line to the end of its value); comments between entries stay. */
function removeMapEntry(text: string, doc: Document, key: string, name: string): string {
  const map = doc.get(key, true) as YAMLMap;
  const pair = map.items.find((p) => isScalar(p.key) && String(p.key.value) === name)!;
  const keyNode = pair.key as Node;
  const valueEnd = ((pair.value as Node | null)?.range ?? keyNode.range)![1];
  const start = lineStart(text, keyNode.range![0]);
  const out = text.slice(0, start) + text.slice(lineEnd(text, Math.max(valueEnd - 1, start)));
  if (map.items.length > 1) return out;
  // The last entry gone: `apps:` alone would read as null, so it becomes `apps: {}`.
  const mapKey = (doc.contents as YAMLMap).items.find((p) => isScalar(p.key) && p.key.value === key)!
    .key as Node;
  return `${out.slice(0, mapKey.range![1])}: {}${out.slice(mapKey.range![1] + 1)}`;
}

/** Temp file beside the target, then rename: a crash leaves the old or the new file, never half. */
export function writeFileAtomic(file: string, text: string | Uint8Array): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}
