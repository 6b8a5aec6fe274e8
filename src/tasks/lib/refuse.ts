import type { Step } from '../../engine/task.js';
import { shq } from '../../quote.js';

/**
 * A change infra will not make (a swarm to leave, a major to downgrade), as data: the engine sees
 * `refuse` and fails the task with the reason before running any step or arming any switch.
 * The script says the same for a reader of `plan --json` and for any caller that runs steps
 * itself; the engine never sends it.
 */
export function refusal(why: string): Step {
  return { script: `printf '%s\\n' ${shq(why)} >&2; exit 1`, refuse: why };
}
