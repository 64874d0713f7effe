import type { Ledger } from '../../ledger/ledger.ts';
import type { MemberThreatModel } from '../../sdk/round-verification.ts';
import { type ParticipationResult, VeilsumClient } from '../../sdk/veilsum-client.ts';
import type { Consortium } from './consortium.ts';
import type { MaliciousCoordinator } from './malicious-coordinator.ts';

export interface HarnessMemberOptions {
  /** Each member's own ledger view (default: none). */
  readonly ledger?: (member: string) => Ledger;
  /** The member policy (default: the SDK's defaults, not the fixtures' lowered one). */
  readonly threatModel?: MemberThreatModel;
  /** Whether members pin the consortium's member list (profile `members`; default true). */
  readonly pinned?: boolean;
}

/** The unmodified member SDK of each of `members`, connected to the malicious coordinator. */
export function connectMembers(
  consortium: Consortium,
  coordinator: MaliciousCoordinator,
  members: readonly string[],
  options: HarnessMemberOptions = {},
): VeilsumClient[] {
  return members.map((member) => {
    const { consortiumMembers, ...profile } = consortium.profile(member, coordinator.port);
    return VeilsumClient.connect({
      ...profile,
      ...(options.pinned === false ? {} : { consortiumMembers }),
      retry: { totalMs: 2_000, initialDelayMs: 50, maxDelayMs: 200 },
      threatModel: options.threatModel,
      ...(options.ledger ? { ledger: options.ledger(member), ledgerWaitMs: 6_000 } : {}),
    });
  });
}

/** Every client takes part in the round with a small update; each outcome, clients closed. */
export async function takePart(
  clients: readonly VeilsumClient[],
  roundId: string,
): Promise<PromiseSettledResult<ParticipationResult>[]> {
  try {
    return await Promise.allSettled(
      clients.map((client, i) =>
        client.participate(
          roundId,
          Float32Array.from({ length: 16 }, (_, j) => Math.sin(i + j) / 2),
          { waitForResult: false },
        ),
      ),
    );
  } finally {
    for (const client of clients) client.close();
  }
}
