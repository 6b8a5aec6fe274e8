/**
 * A secret value that renders as *** everywhere except through reveal(): string
 * interpolation, JSON.stringify and util.inspect all see the mask.
 */
export class Secret {
  readonly #value: string;
  constructor(
    readonly ref: string,
    value: string,
  ) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '***';
  }
  toJSON(): string {
    return '***';
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Secret(${this.ref})`;
  }
}

/** Replaces every known secret value in a string with ***; longest values first so overlaps mask fully. */
export class Redactor {
  #values: string[] = [];
  add(value: string | Secret): void {
    const v = typeof value === 'string' ? value : value.reveal();
    // Very short values would mask innocent text; secrets that short are rejected at load time.
    if (v.length < 4 || this.#values.includes(v)) return;
    this.#values.push(v);
    this.#values.sort((a, b) => b.length - a.length);
  }
  redact(text: string): string {
    let out = text;
    for (const v of this.#values) out = out.split(v).join('***');
    return out;
  }
  /**
   * Deep-redacts any JSON-like value (strings inside objects and arrays). The engine passes every
   * event through here (30 per host, 6000 at 200 hosts): a value with no secret in it comes back
   * as it is, without the JSON round trip.
   */
  redactValue<T>(value: T): T {
    const text = JSON.stringify(value ?? null);
    const masked = this.redact(text);
    return masked === text ? ((value ?? null) as T) : (JSON.parse(masked) as T);
  }
}
