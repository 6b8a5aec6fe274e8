import { type GlobalOptions, loadFor } from './shared.js';

/** `infra inventory validate`: every problem at once, nothing run. */
export async function validate(g: GlobalOptions): Promise<number> {
  const inv = loadFor(g, true);
  process.stdout.write(`${inv.file}: ok — ${inv.hosts.length} hosts, ${inv.apps.length} apps\n`);
  return 0;
}
