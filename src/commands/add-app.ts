import { readFileSync } from 'node:fs';
import { InfraError } from '../errors.js';
import { addAppText, checkAppName, checkPgMajor, writeFileAtomic } from '../inventory/edit.js';
import { parseInventoryText } from '../inventory/parse.js';
import { Output } from '../report/output.js';
import { singleAppTasks } from '../roles/apps.js';
import { Redactor } from '../secrets.js';
import { type ConvergeOptions, converge } from './converge.js';
import { connectionLines } from './db.js';
import { type GlobalOptions, inventoryPath } from './shared.js';

export interface AddAppOptions extends ConvergeOptions {
  pg: string;
  host?: string;
}

/**
 * `infra add-app NAME --pg V [--host H]`: the inventory entry (comments and order kept), then
 * that app converged on its host. Adding an app that already exists with the same host and
 * major only converges it (a re-run changes nothing); bad input leaves the file byte-identical.
 */
export async function addApp(g: GlobalOptions, name: string, o: AddAppOptions): Promise<number> {
  const file = inventoryPath(g);
  const text = readFileSync(file, 'utf8');
  checkAppName(name);
  const major = checkPgMajor(o.pg);
  const out = new Output(new Redactor());
  // With --json, stdout carries the one JSON document; what add-app says goes to stderr.
  const say = (line: string) => (o.json ? out.error(line) : out.line(line));
  const parsed = parseInventoryText(text);
  const existing = parsed.ok ? parsed.doc.apps[name] : undefined;
  let host: string;
  if (existing) {
    host = existing.host;
    if (existing.postgres !== major || (o.host !== undefined && o.host !== existing.host))
      throw new InfraError(
        `app ${name} already exists in the inventory (postgres ${existing.postgres} on ${existing.host})`,
        existing.postgres !== major
          ? `to change its major, run: infra upgrade-pg ${name} --to ${major}`
          : undefined,
      );
    say(`${name} is already in the inventory (postgres ${major} on ${existing.host}); converging it`);
  } else {
    const edited = addAppText(text, { name, postgres: major, host: o.host });
    writeFileAtomic(file, edited.text);
    host = edited.host;
    say(`added ${name} (postgres ${major} on ${edited.host}) to ${file}`);
  }
  const code = await converge('apply', g, [host], o, {
    plan: (inv) => singleAppTasks(inv, name),
    requireSecrets: false,
    // The new app joins the control host's nightly pull in the same run.
    followUp: true,
  });
  if (code === 0 && !o.json) for (const l of await connectionLines(g, name)) out.line(l);
  return code;
}
