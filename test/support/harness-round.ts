import type { Round } from '../../proto/gen/veilsum/v1/round.ts';
import type { VeilsumError } from '../../sdk/errors.ts';
import type { MemberThreatModel } from '../../sdk/round-verification.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { asAgreementChannel } from './agreement-channel.ts';
import type { Consortium } from './consortium.ts';
import { type Attack, type HarnessRound, MaliciousCoordinator } from './malicious-coordinator.ts';
import { maliciousMember, type MemberLies } from './malicious-member.ts';

export interface HarnessOutcome {
  readonly coordinator: MaliciousCoordinator;
  readonly opened: Round;
  readonly outcomes: PromiseSettledResult<unknown>[];
}

export interface PlayOptions {
  /** The members' policy (default: the SDK defaults). */
  readonly policy?: MemberThreatModel;
  /** Whether members read their own view of the coordinator's ledger (default true). */
  readonly ledger?: boolean;
  /**
   * Whether that view stands in for an agreement channel (each bank's own Fabric peer): members
   * take sparse rounds only on one (default false: the embedded ledger, which is none).
   */
  readonly agreementChannel?: boolean;
  readonly onOpened?: (coordinator: MaliciousCoordinator) => void;
  /** The harness's ledger file name. */
  readonly name: string;
  /**
   * Roster indices (1-based) played by a malicious member (malicious-member.ts, the real client
   * with what it sends rewritten) instead of the SDK, with their lies.
   */
  readonly liars?: ReadonlyMap<number, MemberLies>;
}

/**
 * One round of the unmodified member SDK (over mTLS gRPC on 127.0.0.1) against a coordinator
 * playing `attack`; returns each member's outcome, in roster order, and the stopped harness.
 */
export async function playHarnessRound(
  consortium: Consortium,
  attack: Attack,
  round: HarnessRound,
  options: PlayOptions,
): Promise<HarnessOutcome> {
  const coordinator = new MaliciousCoordinator(consortium, attack, options.name);
  await coordinator.start();
  const opened = await coordinator.open(round);
  options.onOpened?.(coordinator);
  const clients = round.members.map((member) =>
    VeilsumClient.connect({
      ...consortium.profile(member, coordinator.port),
      retry: { totalMs: 2_000, initialDelayMs: 50, maxDelayMs: 200 },
      ...(options.ledger === false
        ? {}
        : {
            ledger: options.agreementChannel
              ? asAgreementChannel(coordinator.ledgerFor(member))
              : coordinator.ledgerFor(member),
          }),
      ledgerWaitMs: Math.max(6_000, (round.phaseTimeoutMs ?? 0) + 10_000),
      threatModel: options.policy ?? {},
    }),
  );
  try {
    const outcomes = await Promise.allSettled(
      clients.map((client, i) => {
        const lies = options.liars?.get(i + 1);
        if (lies !== undefined) {
          return maliciousMember(
            consortium,
            round.members[i]!,
            coordinator.port,
            coordinator.ledgerFor(round.members[i]!),
            opened.roundId,
            new Uint32Array(round.dimension ?? 16).fill(7),
            lies,
          );
        }
        return client.participate(
          opened.roundId,
          Float32Array.from({ length: round.dimension ?? 16 }, (_, j) => Math.sin(i + j) / 2),
          { waitForResult: false },
        );
      }),
    );
    return { coordinator, opened, outcomes };
  } finally {
    for (const client of clients) client.close();
    await coordinator.stop();
  }
}

/** The members that refused or failed, by roster index, with their errors. */
export const refusals = (outcomes: PromiseSettledResult<unknown>[]) =>
  outcomes.flatMap((outcome, i) =>
    outcome.status === 'rejected' ? [{ member: i + 1, error: outcome.reason as VeilsumError }] : [],
  );
