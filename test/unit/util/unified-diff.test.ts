import { describe, expect, it } from 'vitest';
import { unifiedDiff } from '../../../src/util/unified-diff.js';

describe('unifiedDiff', () => {
  it('is empty for equal texts', () => {
    expect(unifiedDiff('a\n', 'a\n', 'f')).toBe('');
  });
  it('shows a new file as all additions', () => {
    expect(unifiedDiff('', 'a\nb\n', '/etc/x')).toBe('--- /etc/x\n+++ /etc/x\n@@ -0,0 +1,2 @@\n+a\n+b');
  });
  it('shows one changed line with context', () => {
    const before = 'PasswordAuthentication yes\nPermitRootLogin yes\nX11Forwarding no\n';
    const after = 'PasswordAuthentication no\nPermitRootLogin yes\nX11Forwarding no\n';
    expect(unifiedDiff(before, after, 'f')).toBe(
      '--- f\n+++ f\n@@ -1,3 +1,3 @@\n-PasswordAuthentication yes\n+PasswordAuthentication no\n PermitRootLogin yes\n X11Forwarding no',
    );
  });
  it('splits distant changes into separate hunks', () => {
    const a = Array.from({ length: 20 }, (_, i) => `l${i}`).join('\n');
    const b = a.replace('l1\n', 'L1\n').replace('l18', 'L18');
    expect(unifiedDiff(`${a}\n`, `${b}\n`, 'f').match(/^@@/gm)).toHaveLength(2);
  });
});
