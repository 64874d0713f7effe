import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { nativeCurve25519 as curve } from '../../crypto/curve25519-native.ts';
import { proveSharedSecret, x25519FromEd25519 } from '../../crypto/dleq.ts';
import { systemRandom } from '../../crypto/random.ts';
import type { Conviction } from '../../crypto/secagg/messages.ts';
import { signedShareBoxes } from '../../crypto/secagg/share-box.ts';
import { shareComplaintContext } from '../../crypto/secagg/transcript.ts';
import type { VeilsumError } from '../../sdk/errors.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import { type Consortium, createConsortium } from '../support/consortium.ts';
import { type HarnessRound, MaliciousCoordinator } from '../support/malicious-coordinator.ts';

/**
 * A coordinator that fakes a verdict, against the unmodified member SDK over mTLS gRPC. Member 2
 * drops before its masked input (an honest dropout); the coordinator serves, with U3, a
 * conviction of member 2 — its real, signed box to member 3, and a complaint "from member 3"
 * with a DLEQ proof that verifies, but under a key the coordinator made (it cannot prove anything
 * under member 3's key) — so that the round, and the ledger after it, would name member 2 as the
 * sender of a bad share box. Each member judges the conviction itself before signing U3: the box
 * was signed for member 3's advertised key, not the one the proof is under, so the conviction
 * does not hold and every member stops, naming the coordinator, before it reveals anything.
 */
const MEMBERS = 6;
const VICTIM = 2;
const ACCUSER = 3;

const complete = (members: string[]): HarnessRound => ({
  members,
  degree: members.length - 1,
  threshold: members.length - 1,
  adversary: 'semi-malicious',
  corruptionRate: 0.05,
  dropoutRate: 1 / MEMBERS,
  dimension: 8,
  ledger: false,
});

describe('SecAgg: a coordinator that convicts an honest member on evidence of its own making', () => {
  let consortium: Consortium;

  beforeAll(async () => {
    consortium = await createConsortium(MEMBERS, 'conviction');
  });
  afterAll(() => rmSync(consortium.directory, { recursive: true, force: true }));

  it('every member judges the conviction itself and stops before revealing anything', async () => {
    const coordinator: MaliciousCoordinator = new MaliciousCoordinator(
      consortium,
      { convictions: (_recipient, honest) => [...honest, fabricated()] },
      'conviction',
    );
    function fabricated(): Conviction {
      const message = coordinator.shareMessages.get(VICTIM)!;
      // The victim's real box to the accuser, as delivered: signed, with its path.
      const delivered = signedShareBoxes(
        coordinator.context.binding,
        message,
        coordinator.advertisements.get(VICTIM)!.sealingPublicKey,
        coordinator.context.config.identityKeys[VICTIM - 1]!,
        (peer) => coordinator.advertisements.get(peer)!.encryptionPublicKey,
        curve,
      )!;
      const box = delivered[message.encryptedShares.findIndex((sent) => sent.peer === ACCUSER)]!;
      // A key pair of the coordinator's: the only keys it can prove a shared secret under.
      const secret = systemRandom(32);
      const evidence = proveSharedSecret(
        secret,
        x25519FromEd25519(box.ephemeralPublicKey)!,
        shareComplaintContext(coordinator.context.binding, ACCUSER, VICTIM),
        systemRandom,
      );
      return {
        accuser: ACCUSER,
        box,
        recipientPublicKey: curve.x25519PublicKey(secret),
        complaint: { accused: VICTIM, evidence },
      };
    }
    await coordinator.start();
    try {
      const opened = await coordinator.open(complete(consortium.members));
      const clients = consortium.members.map((member) =>
        VeilsumClient.connect({
          ...consortium.profile(member, coordinator.port),
          retry: { totalMs: 2_000, initialDelayMs: 50, maxDelayMs: 200 },
        }),
      );
      try {
        const outcomes = await Promise.allSettled(
          clients.map((client, i) =>
            client.participate(opened.roundId, new Float32Array(8).fill(0.25), {
              waitForResult: false,
              ...(i + 1 === VICTIM ? { dropBefore: 'masked-input' as const } : {}),
            }),
          ),
        );
        const refusals = outcomes.flatMap((outcome, i) =>
          outcome.status === 'rejected'
            ? [{ member: i + 1, message: (outcome.reason as VeilsumError).message }]
            : [],
        );
        expect(refusals.map(({ member }) => member)).toEqual([1, 3, 4, 5, 6]);
        for (const { message } of refusals)
          expect(message).toMatch(
            /the coordinator excludes client 2 on client 3's complaint, which does not hold when judged here \(.*never signed for the accuser's key\)/,
          );
        // Nobody signed the survivor set or revealed a share.
        expect(coordinator.participantSets().signed).toEqual([]);
        expect(coordinator.reveals).toEqual([]);
      } finally {
        for (const client of clients) client.close();
      }
    } finally {
      await coordinator.stop();
    }
  }, 60_000);
});
