/** Known errors print one line (plus an optional hint); anything else is a bug and prints its stack. */
export class InfraError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Every problem of an inventory at once, each already formatted as `file:line:col  path: message`. */
export class InventoryError extends InfraError {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

export class HostKeyChangedError extends InfraError {}
export class LockHeldError extends InfraError {}

/** The host could not be reached at all (connect refused, timed out, auth failed). */
export class UnreachableError extends InfraError {}

export class CommandTimeoutError extends InfraError {}

/** A tool on this machine (not a managed host) is missing or failed; the hint is the fix. */
export class HostToolError extends InfraError {}

export function isInfraError(e: unknown): e is InfraError {
  return e instanceof InfraError;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
