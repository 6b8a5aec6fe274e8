import { connectHost } from '../engine/connect.js';
import { InfraError } from '../errors.js';
import { shq } from '../quote.js';
import { stackSecrets } from '../roles/control.js';
import { findHost, type GlobalOptions, loadFor } from './shared.js';

/**
 * `infra secrets show HOST STACK`: the secrets a stack generated on its host, read there and
 * printed only because the operator asked by name. Nothing is generated or changed here.
 */
export async function showSecrets(g: GlobalOptions, hostName: string, stack: string): Promise<number> {
  const inv = loadFor(g);
  const host = findHost(inv, hostName);
  const stacks = stackSecrets(inv, hostName);
  const entry = stacks[stack];
  if (!entry)
    throw new InfraError(
      `${hostName} has no stack ${JSON.stringify(stack)} with generated secrets`,
      Object.keys(stacks).length
        ? `stacks with secrets on ${hostName}: ${Object.keys(stacks).join(', ')}`
        : `${hostName} (role ${host.role}) keeps no stack secrets`,
    );
  const { transport } = await connectHost(inv, host);
  try {
    const script = entry.files
      .map(
        (f) =>
          `printf '%s=' ${shq(f)}; cat ${shq(`${entry.dir}/${f}`)} 2>/dev/null || printf '(not generated yet: run infra apply %s)' ${shq(hostName)}; echo`,
      )
      .join('\n');
    const r = await transport.exec(script, { timeoutMs: 30_000 });
    if (r.code !== 0)
      throw new InfraError(`reading the secrets of ${stack} on ${hostName} failed (exit ${r.code})`);
    // The redactor does not know these values: printing them is exactly what was asked for.
    const { Output } = await import('../report/output.js');
    const { Redactor } = await import('../secrets.js');
    const out = new Output(new Redactor());
    for (const line of r.stdout.trimEnd().split('\n')) out.line(line);
    return 0;
  } finally {
    await transport.close();
  }
}
