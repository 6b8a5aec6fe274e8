import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Output } from '../../../src/report/output.js';
import { statusLine } from '../../../src/report/status-line.js';
import { Redactor } from '../../../src/secrets.js';

const fleet = (n: number) => Array.from({ length: n }, (_, i) => `h${String(i + 1).padStart(3, '0')}`);

describe('statusLine: the live progress line', () => {
  it('names a few hosts, and nothing when none runs', () => {
    expect(statusLine([])).toBe('');
    expect(statusLine(['toucan'])).toBe('working on toucan …');
    expect(statusLine(['toucan', 'hornbill'])).toBe('working on toucan, hornbill …');
    expect(statusLine(fleet(3))).toBe('working on h001, h002, h003 …');
  });

  it('counts a fleet and names only its first hosts: one short line at 200 hosts', () => {
    expect(statusLine(fleet(4))).toBe('working on 4 hosts (h001, h002, h003 …)');
    const line = statusLine(new Set(fleet(200)));
    expect(line).toBe('working on 200 hosts (h001, h002, h003 …)');
    expect(line.length).toBeLessThan(60);
  });
});

describe('Output.status on a terminal', () => {
  it('writes a line once, again only after it changed or was cleared', () => {
    const stderr = Object.assign(new PassThrough(), { isTTY: true });
    let text = '';
    stderr.on('data', (d: Buffer) => {
      text += d.toString();
    });
    const out = new Output(new Redactor(), new PassThrough(), stderr);
    out.status('working on a …');
    out.status('working on a …');
    out.status('working on a, b …');
    out.clearStatus();
    out.status('working on a, b …');
    expect(text.split('\r\x1b[2K').filter(Boolean)).toEqual([
      'working on a …',
      'working on a, b …',
      'working on a, b …',
    ]);
  });
});
