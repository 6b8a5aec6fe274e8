import type { AnyTask } from '../engine/task.js';
import type { Host } from '../inventory/types.js';
import { fileTask } from '../tasks/file.js';
import { hostnameTask } from '../tasks/hostname.js';
import { packagesTask } from '../tasks/packages.js';
import { serviceTask } from '../tasks/service.js';
import { timezoneTask } from '../tasks/timezone.js';

export const BASE_PACKAGES = [
  'ca-certificates',
  'curl',
  'gnupg',
  'tzdata',
  'unattended-upgrades',
  'apt-transport-https',
];

/** Security updates applied daily by unattended-upgrades (Debian's default origins: security). */
export const AUTO_UPGRADES =
  'APT::Periodic::Update-Package-Lists "1";\nAPT::Periodic::Unattended-Upgrade "1";\n';

/** The base package set (the inventory's `packages` too), what most other tasks wait for. */
export const basePackagesTask = (host: Host) =>
  packagesTask({ set: 'base', names: [...BASE_PACKAGES, ...host.packages] });

/** What every host gets, whatever its role: packages, security upgrades, timezone, hostname. */
export function baseTasks(host: Host, packages: AnyTask = basePackagesTask(host)): AnyTask[] {
  const base = [packages.id];
  return [
    packages,
    fileTask({ path: '/etc/apt/apt.conf.d/20auto-upgrades', content: AUTO_UPGRADES, mode: '644' }, base),
    serviceTask('unattended-upgrades.service', base),
    timezoneTask(host.timezone, base),
    hostnameTask(host.name),
  ];
}
