import { status as GrpcStatus } from '@grpc/grpc-js';
import { setTimeout as sleep } from 'node:timers/promises';
import { contractErrorIn } from './fabric-errors.ts';

/**
 * When a peer's Gateway cannot be reached, a client moves to another bank's peer: any peer of the
 * channel can serve evaluations, collect endorsements (the Gateway finds a majority through
 * discovery), forward a transaction to the orderer and report its commit status. This file says
 * which failures mean "this peer is gone" and how long to keep trying.
 */

/**
 * Transport failures as grpc-js reports them when the peer at the other end died: a refused or
 * reset connection is UNAVAILABLE, a call cut off in the middle of its response is INTERNAL
 * (RST_STREAM, "Received HTTP/2 …") or CANCELLED, a peer that stopped answering DEADLINE_EXCEEDED.
 */
const TRANSPORT_TEXT =
  /RST_STREAM|Received HTTP|Protocol error|Connection dropped|Session closed|ECONNRESET|ECONNREFUSED|socket hang up|No connection established|Call cancelled|Stream removed/i;

/**
 * True if `error` says the peer (or its Gateway) could not be reached, never for an answer the
 * chaincode gave: a contract refusal travels in the error's text and is final wherever it is
 * asked.
 */
export function peerUnreachable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message, details } = error as {
    code?: unknown;
    message?: unknown;
    details?: { message: string }[];
  };
  if (typeof code !== 'number') return false;
  const texts = [
    typeof message === 'string' ? message : '',
    ...(details ?? []).map((detail) => detail.message),
  ];
  if (texts.some((text) => contractErrorIn(text) !== undefined)) return false;
  if (code === (GrpcStatus.UNAVAILABLE as number)) return true;
  if (code === (GrpcStatus.DEADLINE_EXCEEDED as number)) return true;
  if (code === (GrpcStatus.INTERNAL as number) || code === (GrpcStatus.CANCELLED as number))
    return TRANSPORT_TEXT.test(texts.join('\n'));
  return false;
}

/** How long a call keeps moving between peers before it reports the outage. */
export interface FailoverPolicy {
  /** Give up after this long in total (ms). */
  readonly totalMs: number;
  /** Pause after every peer was tried once, doubled each pass up to `maxDelayMs`. */
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** After a failover, how long a client stays on the peer it moved to before trying its own. */
  readonly returnHomeAfterMs: number;
}

export const DEFAULT_FAILOVER: FailoverPolicy = {
  totalMs: 20_000,
  initialDelayMs: 200,
  maxDelayMs: 2_000,
  returnHomeAfterMs: 30_000,
};

/**
 * Runs `attempt` on peer `rotation.current()`; while it fails because that peer is unreachable,
 * moves to the next peer, and after each full pass over the peers pauses (bounded exponential
 * backoff) — until `policy.totalMs` has passed, when the last failure is thrown. Any other
 * failure is thrown at once. `attempt` learns how many attempts came before it.
 */
export async function onReachablePeer<T>(
  rotation: { readonly size: number; current(): number; advance(): void },
  policy: FailoverPolicy,
  attempt: (peerIndex: number, attemptNumber: number) => Promise<T>,
): Promise<T> {
  const started = Date.now();
  let delay = policy.initialDelayMs;
  for (let attemptNumber = 0; ; attemptNumber++) {
    try {
      return await attempt(rotation.current(), attemptNumber);
    } catch (error) {
      if (!peerUnreachable(error)) throw error;
      const pause = (attemptNumber + 1) % rotation.size === 0 ? delay : 0;
      if (Date.now() - started + pause > policy.totalMs) throw error;
      rotation.advance();
      if (pause > 0) {
        await sleep(pause);
        delay = Math.min(delay * 2, policy.maxDelayMs);
      }
    }
  }
}
