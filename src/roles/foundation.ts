import type { AnyTask } from '../engine/task.js';

/**
 * The tasks of the base and bootstrap roles that other roles wait for, by value. A field is
 * absent when the plan does not hold that task (add-app's plan, an apps host's follow-up on the
 * control host): the role then waits for nothing there, as before. Roles name what they need by
 * field, never by an id string or a pattern over ids, so renaming a task's id cannot silently
 * drop an ordering.
 */
export interface Foundation {
  /** `packages:base` (roles/base.ts). */
  basePackages?: AnyTask;
  /** Tailscale up: the tailnet address exists (the stacks bind to it, the pulls go over it). */
  tailscale?: AnyTask;
  /** The Docker engine's packages installed. */
  dockerPackages?: AnyTask;
  /** `docker.service` running. */
  docker?: AnyTask;
}

/** The ids of the tasks given that the plan holds, in the order given: an `after` list. */
export const idsOf = (...tasks: readonly (AnyTask | undefined)[]): string[] =>
  tasks.flatMap((t) => (t ? [t.id] : []));
