import { keyValues } from './lib/parse.js';

/** The distributions bootstrap supports, by codename; anything else is refused with a clear error. */
export const SUPPORTED = {
  debian: ['bookworm', 'trixie'],
  ubuntu: ['jammy', 'noble'],
} as const;

export type OsId = keyof typeof SUPPORTED;

export interface OsRelease {
  os: OsId;
  codename: string;
  /** dpkg --print-architecture: amd64, arm64, … */
  arch: string;
}

/** Shell that prints os=, codename= and arch= lines (Ubuntu's codename wins, as in Tailscale's installer). */
export const OS_PROBE = [
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
  '( . /etc/os-release 2>/dev/null; echo "os=${ID:-}"; echo "codename=${UBUNTU_CODENAME:-${VERSION_CODENAME:-}}" )',
  'echo "arch=$(dpkg --print-architecture 2>/dev/null)"',
].join('\n');

/** Pure: the os=/codename=/arch= lines in, a supported release out; throws with what was found otherwise. */
export function parseOsRelease(stdout: string): OsRelease {
  const kv = keyValues(stdout);
  const os = kv.get('os') ?? '';
  const codename = kv.get('codename') ?? '';
  const known = (SUPPORTED as Record<string, readonly string[]>)[os];
  if (!known?.includes(codename))
    throw new Error(
      `unsupported OS ${os || '?'} ${codename || '?'} (supported: Debian 12/13, Ubuntu 22.04/24.04)`,
    );
  return { os: os as OsId, codename, arch: kv.get('arch') || 'amd64' };
}
