import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type Document, parseDocument, Scalar } from 'yaml';
import { PACKAGE_ROOT } from '../paths.js';
import { cached } from '../util/cached.js';

/** Where the role stacks live on a host: <dir>/compose.yaml and the stack's generated secrets. */
export const STACKS_DIR = '/srv/infra/stacks';
export const stackDir = (stack: string) => `${STACKS_DIR}/${stack}`;

/** Prints `tailnet=ADDRESS` once tailscale0 has one; the stacks publish on it, never publicly. */
export const TAILNET_VARS_PROBE = `ip -4 -o addr show dev tailscale0 2>/dev/null | awk '{split($4,a,"/"); print "tailnet=" a[1]; exit}'`;

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
/** Pure: the address only if it is one; a probe's odd output never reaches a compose file. */
export const ipv4 = (s: string | undefined): string | undefined => (s && IPV4.test(s) ? s : undefined);

export function templatePath(stack: string, file = 'compose.yaml'): string {
  return path.join(PACKAGE_ROOT, 'templates', stack, file);
}

const templates = new Map<string, Document>();

/** A fresh copy of a shipped template (each is read and parsed once per run). */
export function loadTemplate(stack: string, file = 'compose.yaml'): Document {
  const p = templatePath(stack, file);
  return cached(templates, p, () => parseDocument(readFileSync(p, 'utf8'))).clone();
}

/**
 * Sets an inline config (`configs.<name>.content`) and labels the services that mount it with
 * its hash: compose's config hash covers the service, not the content of its configs, so
 * without the label an edited config would never recreate the container.
 */
export function setConfig(doc: Document, name: string, content: string, services: string[]): void {
  // A block literal, so the config reads on the host as the file it becomes.
  const node = doc.createNode(content) as Scalar;
  node.type = Scalar.BLOCK_LITERAL;
  doc.setIn(['configs', name, 'content'], node);
  const sha = createHash('sha256').update(content).digest('hex').slice(0, 16);
  for (const s of services) doc.setIn(['services', s, 'labels', `io.infra.config.${name}`], sha);
}

/** A port published on one address: `{host_ip, published, target}`, the long syntax. */
export function publish(address: string, published: number, target: number) {
  return { target, host_ip: address, published: String(published), protocol: 'tcp' };
}
