import { labStateDir } from '../inventory/lab-overlay.js';
import { loadInventory } from '../inventory/load.js';
import { type GlobalOptions, inventoryPath, selectHosts } from './shared.js';

/** The lab mirrors the inventory's hosts (names and roles); it needs no secrets and no --lab. */
function labContext(g: GlobalOptions) {
  const inv = loadInventory(inventoryPath(g), { requireSecrets: false });
  return {
    inv,
    stateDir: labStateDir(inv.dir),
    specs: inv.hosts.map((h) => ({ name: h.name, role: h.role })),
  };
}

export async function labUp(g: GlobalOptions, json: boolean): Promise<number> {
  const { stateDir, specs } = labContext(g);
  const { readLabState } = await import('../lab/index.js');
  const made = (name: string) => readLabState(stateDir)?.hosts.find((h) => h.name === name)?.createdAt;
  const before = new Map(specs.map((s) => [s.name, made(s.name)]));
  const code = await (await import('./lab.js')).up(specs, stateDir, json);
  // A host made anew (first up, moved, or replaced) is not on the tailnet: forget what infra
  // learned of the old one, or runs would try its tailnet address and meet another host's key.
  const { forgetLearned } = await import('../engine/connect.js');
  for (const s of specs) if (made(s.name) !== before.get(s.name)) forgetLearned(stateDir, s.name);
  return code;
}

export async function labDown(g: GlobalOptions, images: boolean): Promise<number> {
  const { inv, stateDir } = labContext(g);
  const code = await (await import('./lab.js')).down(stateDir, images);
  // The hosts are gone, and with them the tailnet addresses infra had learned.
  if (code === 0) {
    const { forgetLearned } = await import('../engine/connect.js');
    for (const h of inv.hosts) forgetLearned(stateDir, h.name);
  }
  return code;
}

export async function labStatus(g: GlobalOptions, json: boolean): Promise<number> {
  return (await import('./lab.js')).status(labContext(g).stateDir, json);
}

export async function labReset(g: GlobalOptions, host: string): Promise<number> {
  const { inv, stateDir } = labContext(g);
  selectHosts(inv, [host]);
  const code = await (await import('./lab.js')).reset(stateDir, host);
  // The fresh host is not on the tailnet: forget its old address, or every run would first wait
  // for a path that cannot answer.
  if (code === 0) (await import('../engine/connect.js')).forgetLearned(stateDir, host);
  return code;
}

export async function labReboot(g: GlobalOptions, host: string): Promise<number> {
  const { inv, stateDir } = labContext(g);
  selectHosts(inv, [host]);
  return (await import('./lab.js')).reboot(stateDir, host);
}
