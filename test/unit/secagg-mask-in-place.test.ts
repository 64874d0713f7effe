import { describe, expect, it } from '@jest/globals';
import { combineMasks } from '../../crypto/secagg/masks.ts';
import { completeGraphRound, modularSum, playKeyPhases } from '../support/secagg-fixture.ts';

/**
 * completeMaskedInputInPlace (the SDK's path since the bank's peer hands its 10^7 levels over):
 * the masks are expanded straight into the member's input vector, which becomes y_u. It must
 * upload exactly what completeMaskedInput(input, combineMasks(...)) uploads — never the plain
 * levels — and the server must still unmask the sum.
 */
const CLIENTS = 5;

function play(inPlace: boolean) {
  const { fixture, server, clients } = completeGraphRound({
    clients: CLIENTS,
    threshold: 3,
    dimension: 40_000,
    adversary: 'semi-honest',
    seed: 7,
  });
  const { curve } = fixture;
  const { u2 } = playKeyPhases(server, clients);
  const uploads = new Map<number, Uint32Array>();
  const handedOver: boolean[] = [];
  for (const client of clients) {
    const input = fixture.inputs[client.index - 1]!.slice();
    const jobs = client.prepareMasks(server.sharesFor(client.index), u2);
    const message = inPlace
      ? client.completeMaskedInputInPlace(input, jobs)
      : client.completeMaskedInput(input, combineMasks(jobs, input.length, curve));
    handedOver.push(message.maskedInput === input);
    uploads.set(client.index, message.maskedInput.slice());
    server.receiveMaskedInput(message);
  }
  server.closeMaskedInputCollection((sender) => uploads.get(sender)!);
  const request = server.unmaskingRequest();
  const u3 = server.participantSets().masked;
  for (const client of clients) server.receiveUnmasking(client.unmask(request, u3));
  return { fixture, uploads, handedOver, result: server.finishUnmasking() };
}

describe('SecAggClient.completeMaskedInputInPlace', () => {
  it('masks the input vector itself, uploads what the two-vector path uploads, and the sum unmasks', () => {
    const copied = play(false);
    const inPlace = play(true);
    expect(inPlace.handedOver).toEqual(new Array(CLIENTS).fill(true));
    for (const [sender, upload] of inPlace.uploads) {
      expect(upload).toEqual(copied.uploads.get(sender));
      // Never the plain levels: at most a few of 40 000 words can match by chance.
      const plain = inPlace.fixture.inputs[sender - 1]!;
      expect(upload.filter((word, i) => word === plain[i]).length).toBeLessThan(10);
    }
    expect(inPlace.result.sum).toEqual(modularSum(inPlace.fixture.inputs, [1, 2, 3, 4, 5], 32));
  });
});
