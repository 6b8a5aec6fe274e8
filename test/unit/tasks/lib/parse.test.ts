import { describe, expect, it } from 'vitest';
import { keyValues, sections } from '../../../../src/tasks/lib/parse.js';

describe('keyValues', () => {
  it('keeps the first value, ignores foreign lines, trims', () => {
    const kv = keyValues('a=1\n  b=x=y  \nnoise\na=2\nUPPER=no\n');
    expect([...kv]).toEqual([
      ['a', '1'],
      ['b', 'x=y'],
    ]);
  });
});

describe('sections', () => {
  it('cuts at @@name lines; text before the first marker is dropped', () => {
    const s = sections('junk\n@@one\na\nb\n@@two-x\n\n@@three');
    expect([...s]).toEqual([
      ['one', 'a\nb'],
      ['two-x', ''],
      ['three', ''],
    ]);
  });
});
