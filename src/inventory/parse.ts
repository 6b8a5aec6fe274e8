import { type Document, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import type { ZodIssue } from 'zod';
import { analyticsProblems } from './analytics.js';
import { HOST_NAME, type InventoryDoc, inventorySchema } from './schema.js';
import { tunnelProblems } from './tunnel-check.js';

export type Path = (string | number)[];

/** A tunnel service reaching GlitchTip on the control host (src/tasks/glitchtip.ts, port 8000). */
const GLITCHTIP_SERVICE = /^https?:\/\/(localhost|127\.0\.0\.1):8000\/?$/;

/** One problem, located: `file:line:col  path: message`. */
export interface Problem {
  line: number;
  col: number;
  path: string;
  message: string;
}

export function formatProblem(file: string, p: Problem): string {
  return `${file}:${p.line}:${p.col}  ${p.path ? `${p.path}: ` : ''}${p.message}`;
}

export type Locate = (path: Path, atKey?: boolean) => { line: number; col: number };
export type ParseResult =
  | { ok: true; doc: InventoryDoc; yaml: Document; locate: Locate }
  | { ok: false; problems: Problem[] };

/** Pure: inventory text in, a validated document or every problem found (never just the first). */
export function parseInventoryText(text: string): ParseResult {
  const lc = new LineCounter();
  const yaml = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (yaml.errors.length > 0) {
    return {
      ok: false,
      problems: yaml.errors.map((e) => {
        const pos = lc.linePos(e.pos[0]);
        return { line: pos.line, col: pos.col, path: '', message: yamlMessage(e.message) };
      }),
    };
  }
  const raw = yaml.toJS() ?? {};
  const locate = (path: Path, atKey = false) => position(yaml, lc, path, atKey);
  const result = inventorySchema.safeParse(raw);
  const problems: Problem[] = [];
  if (!result.success) {
    for (const issue of result.error.issues) problems.push(...describeIssue(issue, locate));
  } else {
    problems.push(...crossCheck(result.data, locate));
  }
  if (problems.length > 0) return { ok: false, problems: sortProblems(problems) };
  return { ok: true, doc: result.data as InventoryDoc, yaml, locate };
}

/** Rules that span keys: apps must sit on an existing apps host. */
function crossCheck(doc: InventoryDoc, locate: Locate): Problem[] {
  const problems: Problem[] = [];
  for (const [name, app] of Object.entries(doc.apps)) {
    const path = ['apps', name, 'host'];
    const host = doc.hosts[app.host];
    if (!host) {
      const known = Object.keys(doc.hosts).join(', ');
      problems.push({
        ...locate(path),
        path: path.join('.'),
        message: `no host named ${app.host} (hosts: ${known})`,
      });
    } else if (host.role !== 'apps') {
      problems.push({
        ...locate(path),
        path: path.join('.'),
        message: `${app.host} has role ${host.role}; apps run on a host with role apps`,
      });
    }
    if (app.pitr_wal_cap !== undefined && app.pitr !== true) {
      const at = ['apps', name, 'pitr_wal_cap'];
      problems.push({
        ...locate(at),
        path: at.join('.'),
        message: `caps the WAL kept for point-in-time recovery, which ${name} does not have: add pitr: true or remove this key`,
      });
    }
  }
  // GlitchTip published through a tunnel gets its superuser before the route goes live: a route
  // to GlitchTip's port without the superuser's email is refused up front.
  const published = Object.entries(doc.hosts).find(
    ([, h]) =>
      h.role === 'control' && (h.tunnel?.routes ?? []).some((r) => GLITCHTIP_SERVICE.test(r.service)),
  );
  if (published && !doc.glitchtip)
    problems.push({
      ...locate([]),
      path: 'glitchtip.admin_email',
      message: `required key is missing: ${published[0]} publishes GlitchTip through its tunnel, and infra creates GlitchTip's superuser with this email first`,
    });
  if (Object.keys(doc.hosts).length === 0)
    problems.push({ ...locate(['hosts']), path: 'hosts', message: 'expected at least one host' });
  problems.push(...tunnelProblems(doc, locate));
  problems.push(...analyticsProblems(doc, locate));
  return problems;
}

function describeIssue(issue: ZodIssue, locate: Locate): Problem[] {
  const at = (path: Path, message: string, atKey = false): Problem => ({
    ...locate(path, atKey),
    path: path.join('.'),
    message,
  });
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((k) => at([...issue.path, k], 'unknown key', true));
    case 'invalid_type':
      if (issue.received === 'undefined') return [at(issue.path, 'required key is missing')];
      return [at(issue.path, `expected ${issue.expected}, got ${issue.received}`)];
    case 'invalid_enum_value':
      return [at(issue.path, `expected one of ${issue.options.join(', ')}`)];
    case 'too_small':
      return [
        at(
          issue.path,
          issue.type === 'array'
            ? `expected at least ${issue.minimum} item(s)`
            : `expected at least ${issue.minimum}`,
        ),
      ];
    case 'too_big':
      return [
        at(
          issue.path,
          issue.type === 'array'
            ? `expected at most ${issue.maximum} item(s)`
            : `expected at most ${issue.maximum}`,
        ),
      ];
    default:
      // Record keys are validated with the key's own message (e.g. host names).
      if (issue.path.length === 2 && issue.path[0] === 'hosts' && !HOST_NAME.test(String(issue.path[1]))) {
        return [at(issue.path, issue.message, true)];
      }
      return [at(issue.path, issue.message, issue.path[0] === 'apps' && issue.path.length === 2)];
  }
}

/** Line and column of the node at `path`, or of its nearest existing ancestor (for missing keys). */
function position(doc: Document, lc: LineCounter, path: Path, atKey: boolean): { line: number; col: number } {
  let node: unknown = doc.contents;
  let offset = (node as Node | null)?.range?.[0] ?? 0;
  for (const [i, seg] of path.entries()) {
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) === String(seg) : false));
      if (!pair) break;
      const keyNode = pair.key as Node;
      if (last && atKey) {
        offset = keyNode.range?.[0] ?? offset;
        break;
      }
      node = pair.value;
      offset = (node as Node | null)?.range?.[0] ?? keyNode.range?.[0] ?? offset;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      if (!node) break;
      offset = (node as Node).range?.[0] ?? offset;
    } else break;
  }
  return lc.linePos(offset);
}

function sortProblems(problems: Problem[]): Problem[] {
  return problems.sort((a, b) => a.line - b.line || a.col - b.col);
}

function yamlMessage(message: string): string {
  // yaml's messages end with a position we already print.
  return message.replace(/ at line \d+, column \d+.*$/s, '').trim();
}
