import type { Change, SharedRead, Task } from '../engine/task.js';
import { shCmd, shq } from '../quote.js';

export type PackagesState = Map<string, boolean>;

/** Pure: `dpkg-query -W -f '${Package} ${db:Status-Abbrev}\n'` lines in, installed flags out. */
export function parseDpkgStatus(stdout: string, wanted: readonly string[]): PackagesState {
  const state: PackagesState = new Map(wanted.map((p) => [p, false]));
  for (const line of stdout.split('\n')) {
    const [name, status] = line.trim().split(/\s+/);
    if (name && state.has(name.replace(/:.*$/, ''))) state.set(name.replace(/:.*$/, ''), status === 'ii');
  }
  return state;
}

export function missingPackages(state: PackagesState): string[] {
  return [...state].filter(([, installed]) => !installed).map(([name]) => name);
}

/** Pure: one change naming every missing package, or none. */
export function diffPackages(state: PackagesState): Change[] {
  const missing = missingPackages(state);
  return missing.length
    ? [{ summary: `install ${missing.join(', ')}`, kind: 'package-missing', expected: missing, actual: null }]
    : [];
}

/** Builds the install command; refreshes the apt index first, since an install means it is needed. */
export function installPackagesScript(names: readonly string[]): string {
  return [
    'export DEBIAN_FRONTEND=noninteractive',
    'apt-get update -q',
    `apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold --no-install-recommends ${shCmd(names)}`,
  ].join(' && ');
}

const dpkgStatus = (names: readonly string[]): string =>
  `dpkg-query -W -f '\${Package} \${db:Status-Abbrev}\\n' ${names.map(shq).join(' ')}`;

/** Every package set of a host is asked in one dpkg-query; a probe prints it with PACKAGES_PRINT. */
export const packagesRead = (names: readonly string[]): SharedRead => ({
  name: 'infra_packages',
  script: dpkgStatus,
  args: names,
});
export const PACKAGES_PRINT = `printf '%s\\n' "$infra_packages"`;

/** A named set of Debian packages: `set` names the task (`packages:<set>`), so sets coexist. */
export interface PackageSet {
  set: string;
  names: readonly string[];
}

/** Debian packages present (never removed: a package not in the inventory is not ours to judge). */
export function packagesTask(want: PackageSet, after: string[] = []): Task<PackagesState> {
  const wanted = [...new Set(want.names)].sort();
  return {
    id: `packages:${want.set}`,
    after,
    // Each task reads its own names from the host's one dpkg-query.
    probe: PACKAGES_PRINT,
    reads: [packagesRead(wanted)],
    parse: (out) => parseDpkgStatus(out, wanted),
    diff: diffPackages,
    apply: (state) => [{ script: installPackagesScript(missingPackages(state)), timeoutMs: 20 * 60_000 }],
  };
}
