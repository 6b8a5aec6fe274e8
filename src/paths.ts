import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package's root (where templates/ and lab/ are), from this module: src/paths.ts under
 * vitest, a file directly in dist/ once built (the build bundles into dist/ without sub-folders).
 */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
