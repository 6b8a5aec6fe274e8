import { InfraError } from '../errors.js';

/**
 * Cloudflare's error envelope → one line, and when a call is worth another try. The envelope is
 * `{success, errors: [{code, message, error_chain?}], messages, result}` (every v4 endpoint);
 * the codes seen for auth: 10000 "Authentication error" (HTTP 403: unknown token, or one without
 * the permission), 6003 "Invalid request headers" with 6111 in its chain (HTTP 400: a malformed
 * Authorization header). Messages name the account, the resource and the permission the call
 * needs — never the token, which never reaches this module.
 */

export interface CfErrorItem {
  code?: number;
  message?: string;
  error_chain?: CfErrorItem[];
}

/** Which token permission each kind of resource needs (README, `cloudflare.api_token`). */
export const PERMISSION = {
  zones: 'Zone › Zone: Read',
  tunnels: 'Account › Cloudflare Tunnel: Edit',
  dns: 'Zone › DNS: Edit',
  access: 'Account › Access: Apps and Policies: Edit',
} as const;
export type ResourceKind = keyof typeof PERMISSION;

/** What the call was about, for the message: account, resource kind, a human verb phrase. */
export interface CallContext {
  account: string;
  kind: ResourceKind;
  what: string;
}

const AUTH_CODES = new Set([10000, 9109, 6003, 6111, 6100, 6101, 6102, 6103]);

function flatten(items: readonly CfErrorItem[]): CfErrorItem[] {
  return items.flatMap((e) => [e, ...flatten(e.error_chain ?? [])]);
}

/** Pure: an HTTP status and the envelope's errors → the one line the operator reads. */
export function describeApiError(
  status: number | undefined,
  errors: readonly CfErrorItem[],
  ctx: CallContext,
): string {
  const all = flatten(errors);
  const codes = all.map((e) => `${e.code ?? '?'} ${e.message ?? ''}`.trim()).join('; ') || 'no error detail';
  const http = status ? `HTTP ${status}` : 'no answer';
  const auth =
    status === 401 || status === 403 || all.some((e) => e.code !== undefined && AUTH_CODES.has(e.code));
  if (auth)
    return `Cloudflare refused the API token for account ${ctx.account} to ${ctx.what} (${http}: ${codes}): the token (cloudflare.api_token) needs ${PERMISSION[ctx.kind]} on this account`;
  return `Cloudflare could not ${ctx.what} in account ${ctx.account} (${http}: ${codes})`;
}

/** Rate limits and the edge's own failures pass; everything else is an answer to act on. */
export const RETRYABLE = (status: number | undefined) =>
  status === undefined || status === 408 || status === 429 || (status >= 500 && status <= 599);

export interface RetryPolicy {
  attempts: number;
  baseMs: number;
  maxMs: number;
}
export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseMs: 500, maxMs: 8000 };

/**
 * Pure: how long to wait before attempt `n` (1-based, n ≥ 2) or undefined to give up. A 429's
 * Retry-After (seconds) is honoured up to maxMs; otherwise exponential from baseMs.
 */
export function retryDelay(
  n: number,
  status: number | undefined,
  retryAfter: string | null | undefined,
  p: RetryPolicy = DEFAULT_RETRY,
): number | undefined {
  if (n > p.attempts || !RETRYABLE(status)) return undefined;
  const after = Number(retryAfter);
  if (retryAfter && Number.isFinite(after) && after >= 0) return Math.min(after * 1000, p.maxMs);
  return Math.min(p.baseMs * 2 ** (n - 2), p.maxMs);
}

/** A failed call after its retries: the message is already the operator's line (no stack). */
export class CloudflareError extends InfraError {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}
