import { describe, expect, it } from 'vitest';
import {
  applyStackScript,
  diffStack,
  parseStackProbe,
  type StackState,
  stackProbe,
} from '../../../src/tasks/compose-stack.js';

const FILE = 'services:\n  db:\n    image: postgres:18\n';
const stack = { project: 'beanstock', dir: '/srv/infra/apps/beanstock', render: () => FILE };
const b64 = (s: string) => Buffer.from(s).toString('base64');
const running = (over: Partial<Record<string, string>> = {}) =>
  [
    'ctr db',
    over.state ?? 'running',
    over.hash ?? 'h1',
    over.image ?? 'postgres:18',
    over.status ?? 'Up 2 minutes (healthy)',
  ].join('\t');

function probeOut(lines: string[]): StackState {
  return parseStackProbe(lines.join('\n'));
}

describe('compose stack probe', () => {
  it('reads file, hashes, containers and vars', () => {
    const st = probeOut(['var tailnet=100.77.0.11', `file ${b64(FILE)}`, 'hash db h1', running()]);
    expect(st).toEqual({
      docker: true,
      file: FILE,
      hashes: { db: 'h1' },
      vars: { tailnet: '100.77.0.11' },
      containers: [
        {
          service: 'db',
          state: 'running',
          configHash: 'h1',
          image: 'postgres:18',
          status: 'Up 2 minutes (healthy)',
        },
      ],
    });
  });

  it('quotes the hash flag for dash', () => {
    expect(stackProbe(stack)).toContain("config '--hash=*'");
  });
});

describe('compose stack diff', () => {
  it.each([
    ['in sync', [`file ${b64(FILE)}`, 'hash db h1', running()], []],
    ['no docker', ['nodocker'], ['stack-missing']],
    ['nothing there', [], ['stack-missing']],
    ['file edited on the host', [`file ${b64(`${FILE}# edit\n`)}`, 'hash db h2', running()], ['stack-file']],
    ['file gone, container running', ['hash db h1', running()], ['stack-file']],
    ['container removed', [`file ${b64(FILE)}`, 'hash db h1'], ['stack-missing']],
    [
      'stopped',
      [`file ${b64(FILE)}`, 'hash db h1', running({ state: 'exited', status: 'Exited (0) 1 minute ago' })],
      ['stack-stopped'],
    ],
    [
      'unhealthy',
      [`file ${b64(FILE)}`, 'hash db h1', running({ status: 'Up 5 minutes (unhealthy)' })],
      ['stack-unhealthy'],
    ],
    [
      'health starting is not drift',
      [`file ${b64(FILE)}`, 'hash db h1', running({ status: 'Up 3 seconds (health: starting)' })],
      [],
    ],
    ['other image', [`file ${b64(FILE)}`, 'hash db h1', running({ image: 'postgres:17' })], ['stack-image']],
    [
      'container from another config',
      [`file ${b64(FILE)}`, 'hash db h1', running({ hash: 'h0' })],
      ['stack-config-hash'],
    ],
  ])('%s', (_name, lines, kinds) => {
    expect(diffStack(stack, probeOut(lines)).map((c) => c.kind)).toEqual(kinds);
  });
});

describe('compose stack apply', () => {
  it('validates the upload before it replaces the file, then waits for health', () => {
    const s = applyStackScript({ ...stack, waitSec: 30 }, []);
    const validate = s.indexOf('config -q');
    expect(validate).toBeGreaterThan(0);
    expect(s.indexOf('mv -f "$tmp" /srv/infra/apps/beanstock/compose.yaml')).toBeGreaterThan(validate);
    expect(s).toContain('up -d --remove-orphans --wait --wait-timeout 30');
    expect(s).toContain('logs --no-color --tail 15');
  });
  it('recreates an unhealthy service', () => {
    expect(applyStackScript(stack, [{ kind: 'stack-unhealthy', summary: '' }])).toContain('--force-recreate');
  });
});
