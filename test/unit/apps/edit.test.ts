import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { addAppText, removeAppText, setAppPostgresText } from '../../../src/inventory/edit.js';
import { parseInventoryText } from '../../../src/inventory/parse.js';

const REPO_INVENTORY = readFileSync(path.resolve(__dirname, '../../../inventory.yaml'), 'utf8');
const withoutApps = ['xhosa', 'beanstock', 'docflow'].reduce(removeAppText, REPO_INVENTORY);

/** Lines removed and added between two texts (a crude line diff is enough to prove "only this changed"). */
function lineDelta(a: string, b: string): { removed: string[]; added: string[] } {
  const al = a.split('\n');
  const bl = b.split('\n');
  let start = 0;
  while (start < al.length && al[start] === bl[start]) start++;
  let ea = al.length;
  let eb = bl.length;
  while (ea > start && eb > start && al[ea - 1] === bl[eb - 1]) {
    ea--;
    eb--;
  }
  return { removed: al.slice(start, ea), added: bl.slice(start, eb) };
}

describe('add-app edits the inventory text, nothing else', () => {
  it('appends the entry and keeps every comment, blank line and key order', () => {
    const { text, host } = addAppText(REPO_INVENTORY, { name: 'ledger', postgres: 17 });
    expect(host).toBe('hornbill');
    expect(lineDelta(REPO_INVENTORY, text)).toEqual({
      removed: [],
      added: ['  ledger:', '    host: hornbill', '    postgres: 17'],
    });
    expect(text.startsWith(REPO_INVENTORY.trimEnd())).toBe(true);
  });

  it('keeps trailing key comments on their line (yaml.toString would move them)', () => {
    const { text } = addAppText(REPO_INVENTORY, { name: 'ledger', postgres: 17 });
    expect(text).toContain('  xhosa:               # sales and orders\n');
  });

  it('turns `apps: {}` into a block and back', () => {
    expect(withoutApps).toContain('\napps: {}\n');
    const { text } = addAppText(withoutApps, { name: 'beanstock', postgres: 18 });
    expect(text).toContain('\napps:\n  beanstock:\n    host: hornbill\n    postgres: 18\n');
    expect(removeAppText(text, 'beanstock')).toBe(withoutApps);
  });

  it('adds an apps section when there is none', () => {
    const noSection = withoutApps.replace('\napps: {}\n', '\n');
    const { text } = addAppText(noSection, { name: 'beanstock', postgres: 18 });
    const r = parseInventoryText(text);
    expect(r.ok && r.doc.apps.beanstock).toEqual({ host: 'hornbill', postgres: 18 });
  });

  it('remove then add is the identity on the other lines', () => {
    const removed = removeAppText(REPO_INVENTORY, 'beanstock');
    expect(lineDelta(REPO_INVENTORY, removed)).toEqual({
      removed: ['  beanstock:           # inventory', '    host: hornbill', '    postgres: 18'],
      added: [],
    });
  });

  it('sets the major in place', () => {
    const text = setAppPostgresText(REPO_INVENTORY, 'xhosa', 18);
    expect(lineDelta(REPO_INVENTORY, text)).toEqual({
      removed: ['    postgres: 16'],
      added: ['    postgres: 18'],
    });
  });

  it.each([
    [{ name: 'Bean Stock', postgres: 18 }, /invalid app name "Bean Stock": expected lowercase letters/],
    [
      { name: 'beanstock', postgres: 9 },
      /unsupported PostgreSQL version "9": expected a major from 14 to 18/,
    ],
    [{ name: 'beanstock', postgres: 99 }, /unsupported PostgreSQL version "99"/],
    [
      { name: 'beanstock', postgres: 18, host: 'nowhere' },
      /no host named "nowhere": expected one of toucan, hornbill/,
    ],
    [
      { name: 'beanstock', postgres: 18, host: 'toucan' },
      /host toucan has role control: expected a host with role apps \(hornbill\)/,
    ],
    [{ name: '9lives', postgres: 18 }, /invalid app name/],
    [{ name: 'dokploy', postgres: 18 }, /app name "dokploy" is reserved/],
    [{ name: 'host', postgres: 18 }, /is reserved/],
  ])('refuses %j with one line', (app, msg) => {
    expect(() => addAppText(withoutApps, app)).toThrow(msg);
    try {
      addAppText(withoutApps, app);
    } catch (e) {
      expect((e as Error).message).not.toContain('\n');
    }
  });

  it('refuses an existing name', () => {
    expect(() => addAppText(REPO_INVENTORY, { name: 'xhosa', postgres: 16 })).toThrow(
      /app xhosa already exists in the inventory \(on hornbill\)/,
    );
  });

  it('asks for --host when several hosts have role apps', () => {
    const two = withoutApps.replace(
      '  hornbill:',
      '  kiwi:\n    role: apps\n    address: 10.0.0.9\n\n  hornbill:',
    );
    expect(() => addAppText(two, { name: 'a', postgres: 16 })).toThrow(
      /choose a host with --host: .*kiwi, hornbill/,
    );
    expect(addAppText(two, { name: 'a', postgres: 16, host: 'kiwi' }).host).toBe('kiwi');
  });
});
