import { describe, expect, it } from '@jest/globals';
import { SecAggError } from '../../crypto/secagg/errors.ts';
import type { PairwiseRevealMessage, UnmaskingMessage } from '../../crypto/secagg/messages.ts';
import { SHARE_BYTES } from '../../crypto/shamir.ts';
import { recoverable, THRESHOLD } from '../support/secagg-dropped-dealer.ts';
import {
  completeGraphRound,
  playConsistencyCheck,
  playKeyPhases,
  playMaskedInput,
} from '../support/secagg-fixture.ts';

/**
 * Review of the second reveal (issue 17) played by a coordinator that colludes with one member,
 * against unmodified members, in process (n = 6, t = 3, complete graph). The coordinator does not
 * wait for a failed reconstruction: it asks for the pairwise secrets of an HONEST member v that it
 * says dropped — once after v really dropped after ShareKeys, once after v sent its masked input
 * and the coordinator left it out of U3 (it holds y_v). What the attacker could read is computed
 * from everything it received (every Unmasking message, every second-reveal message, the
 * colluder's held shares of b and s^SK and the colluder's own pairwise secrets), with the oracle
 * of test/support/secagg-dropped-dealer.ts.
 */
const CLIENTS = 6;
const VICTIM = 5;
const COLLUDER = 6;

interface Inner {
  readonly receivedShares: Map<number, Uint8Array>;
}

function play(
  adversary: 'semi-honest' | 'semi-malicious',
  seed: number,
  victimSendsInput: boolean,
) {
  const { fixture, server, clients } = completeGraphRound({
    clients: CLIENTS,
    threshold: THRESHOLD,
    dimension: 8,
    adversary,
    seed,
  });
  const { maskingKeys } = playKeyPhases(server, clients);
  const stayers = clients.filter((c) => c.index !== VICTIM);
  const { u3 } = playMaskedInput(
    server,
    victimSendsInput ? clients : stayers,
    fixture.inputs,
    // The coordinator keeps y_v but leaves v out of U3 (it "never arrived").
    (sender) => sender !== VICTIM,
  );
  playConsistencyCheck(server, adversary, stayers, u3);
  const request = server.unmaskingRequest();
  const unmaskings: UnmaskingMessage[] = stayers.map((client) => client.unmask(request, u3));
  for (const message of unmaskings) server.receiveUnmasking(message);
  // The honest server code would not open the phase (v's s^SK reconstructs): the coordinator asks anyway.
  const closed = server.closeUnmasking();
  const secondReveals: PairwiseRevealMessage[] = [];
  const refusals = new Map<number, string>();
  for (const client of stayers) {
    try {
      secondReveals.push(client.revealPairwiseSecrets({ dropped: [VICTIM] }));
    } catch (error) {
      if (!(error instanceof SecAggError)) throw error;
      refusals.set(client.index, error.message);
    }
  }
  // Everything the colluder knows, as if it had revealed it: both shares of every owner it holds
  // (its own b share included) and its proven-or-not pairwise secret with every member.
  const colluder = clients[COLLUDER - 1]! as unknown as Inner;
  const colluderShares: UnmaskingMessage = {
    sender: COLLUDER,
    selfMaskShares: [...colluder.receivedShares].map(([owner, plaintext]) => ({
      owner,
      share: plaintext.subarray(SHARE_BYTES, 2 * SHARE_BYTES),
    })),
    maskingKeyShares: [...colluder.receivedShares].map(([owner, plaintext]) => ({
      owner,
      share: plaintext.subarray(0, SHARE_BYTES),
    })),
    undecryptable: [],
  };
  const colluderPairs: PairwiseRevealMessage = {
    sender: COLLUDER,
    pairwiseSecrets: clients
      .filter((c) => c.index !== COLLUDER)
      .map((c) => ({ peer: c.index, evidence: undefined as never })),
  };
  return {
    closed,
    u3,
    refusals,
    secondReveals,
    attacker: {
      // v is a candidate too: the coordinator holds y_v when v sent it.
      // (the colluder's own input is no secret to the attacker: not a candidate).
      survivors: (victimSendsInput ? [...u3, VICTIM] : u3).filter((m) => m !== COLLUDER),
      unmaskings: [...unmaskings, colluderShares],
      secondReveals: [...secondReveals, colluderPairs],
      maskingKeys,
    },
  };
}

describe.each(['semi-honest', 'semi-malicious'] as const)(
  'review (%s): the coordinator (+ one member) opens the second reveal for an honest member it says dropped',
  (adversary) => {
    it.each([
      ['v dropped after ShareKeys (its s^SK reconstructs; nobody named it)', false, 901],
      ['v sent its masked input and the coordinator left it out of U3 (it holds y_v)', true, 902],
    ] as const)(
      '%s: members reveal only for v, and nobody — v included — is recoverable from everything received',
      (_, victimSendsInput, seed) => {
        const played = play(adversary, seed, victimSendsInput);
        // The honest server code has no second reveal to open here.
        expect(played.closed).toBe('ready');
        expect(played.u3).not.toContain(VICTIM);
        // Members do not know that v's reconstruction did not fail: they answer for v (outside U3).
        expect(played.refusals).toEqual(new Map());
        expect(
          played.secondReveals.map((m) => [m.sender, m.pairwiseSecrets.map((p) => p.peer)]),
        ).toEqual([1, 2, 3, 4, 6].map((member) => [member, [VICTIM]]));
        expect(recoverable(played.attacker)).toEqual([]);
      },
    );
  },
);

describe('review control: the oracle sees the door the second reveal would open without b_v', () => {
  it('the same secrets plus t − 1 honest shares of b_v (which no honest member reveals for v outside U3) recover v', () => {
    const played = play('semi-malicious', 903, true);
    // What the coordinator holds plus two b_v shares it never gets (taken from honest holders'
    // boxes, as a member that revealed b for v outside U3 would have): v falls.
    const bShares = (
      played.attacker.unmaskings[played.attacker.unmaskings.length - 1]!.selfMaskShares ?? []
    ).filter((s) => s.owner === VICTIM);
    expect(bShares).toHaveLength(1);
    const leaked: UnmaskingMessage[] = [1, 2].map((sender) => ({
      sender,
      selfMaskShares: [{ owner: VICTIM, share: bShares[0]!.share }],
      maskingKeyShares: [],
      undecryptable: [],
    }));
    expect(
      recoverable({ ...played.attacker, unmaskings: [...played.attacker.unmaskings, ...leaked] }),
    ).toEqual([VICTIM]);
  });
});
