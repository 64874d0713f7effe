import type { Logger } from 'pino';
import type { AbsentMember, Phase } from '../../proto/gen/veilsum/v1/round.ts';
import { failedPrecondition, type RequestError } from '../../sdk/common/grpc-errors.ts';
import type { RoundStore } from './round-store.ts';

/**
 * Why a roster member will not take part in a round: it said so (DeclineRound, sent by the SDK
 * when its consent or policy check refuses the round), or the coordinator refused it (its consent
 * on the ledger is not in force). Either way the round stops waiting for it.
 */
export interface Decline {
  readonly by: 'member' | 'coordinator';
  readonly reason: string;
}

export const MAX_DECLINE_REASON_CHARS = 500;

/**
 * A member's own words are shown to the round's other members and its administrators, on their
 * terminals: one line, no control characters (no terminal escapes), bounded.
 */
export function cleanDeclineReason(reason: string): string {
  const line = reason.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ').trim();
  const text = line === '' ? 'no reason given' : line;
  return text.length > MAX_DECLINE_REASON_CHARS
    ? `${text.slice(0, MAX_DECLINE_REASON_CHARS)}…`
    : text;
}

/**
 * Records that `index` is out of round `roundId` (logged before it applies) unless it already is:
 * the first reason is kept. Returns whether this was news.
 */
export function recordDecline(
  deps: { readonly store: RoundStore; readonly logger: Logger; readonly now: () => number },
  roundId: string,
  declines: Map<number, Decline>,
  index: number,
  by: Decline['by'],
  reason: string,
): boolean {
  if (declines.has(index)) return false;
  const decline: Decline = { by, reason: cleanDeclineReason(reason) };
  deps.store.appendEvent(roundId, 'decline', index, encodeDecline(decline), deps.now());
  declines.set(index, decline);
  deps.logger.info(
    { event: 'member-declined', round: roundId, member: index, by, reason: decline.reason },
    'member out of the round',
  );
  return true;
}

export function encodeDecline(decline: Decline): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(decline));
}

export function decodeDecline(payload: Uint8Array): Decline {
  const { by, reason } = JSON.parse(new TextDecoder().decode(payload)) as Decline;
  return { by: by === 'coordinator' ? 'coordinator' : 'member', reason: String(reason) };
}

export function declineText(decline: Decline): string {
  return decline.by === 'member'
    ? `declined: ${decline.reason}`
    : `refused by the coordinator: ${decline.reason}`;
}

/** What a member out of the round is told when it speaks again. */
export function outOfRound(roundId: string, index: number, decline: Decline): RequestError {
  return failedPrecondition(
    `member ${index} is out of round ${roundId} (${decline.by === 'member' ? 'it declined' : 'the coordinator refused it'}: ${decline.reason})`,
  );
}

/** One phase of a round: who it waited for and who spoke. */
export interface PhaseAttendance {
  readonly phase: Phase;
  readonly expected: readonly number[];
  readonly spoke: ReadonlySet<number>;
  /** Closed: its deadline passed or everyone spoke (or the round settled). */
  readonly closed: boolean;
}

/** Each member a phase expected and did not hear from, with the reason the coordinator knows. */
export function absentMembers(
  roster: readonly { memberId: string; index: number }[],
  phases: readonly PhaseAttendance[],
  declines: ReadonlyMap<number, Decline>,
): AbsentMember[] {
  return phases.flatMap(({ phase, expected, spoke, closed }) =>
    expected
      .filter((index) => !spoke.has(index))
      .map((index) => {
        const decline = declines.get(index);
        return {
          index,
          memberId: roster[index - 1]?.memberId ?? '',
          phase,
          reason:
            decline !== undefined
              ? declineText(decline)
              : closed
                ? 'no message before the deadline'
                : 'no message yet',
        };
      }),
  );
}

/** Whether the open phase waits only for members that declined (so it may close now). */
export function onlyDeclinedAreSilent(
  open: PhaseAttendance | undefined,
  declines: ReadonlyMap<number, Decline>,
): boolean {
  return (
    open !== undefined &&
    !open.closed &&
    declines.size > 0 &&
    open.expected.some((index) => declines.has(index) && !open.spoke.has(index)) &&
    open.expected.every((index) => open.spoke.has(index) || declines.has(index))
  );
}
