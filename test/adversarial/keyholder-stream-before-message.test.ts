import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startKeyholderProcess } from '../../cli/demo/processes.ts';
import { KeyholderServiceClient } from '../../proto/gen/veilsum/v1/ckks.ts';
import { type TlsIdentity, tlsChannel } from '../../sdk/grpc-channel.ts';
import { type Consortium, createConsortium } from '../support/consortium.ts';
import { stopProcesses } from '../support/coordinator-processes.ts';

/**
 * ATTACK (availability): any consortium certificate could open a keyholder's decryption streams
 * and send most of a message of up to 64 MiB, never finished — grpc-js holds a partial message in
 * memory until it is complete, and the handler's own caller check runs only on the first whole
 * message. Ten such streams from a member's certificate took a keyholder from 149 to 461 MB
 * (attacker review). Defence: the keyholder refuses callers a method does not admit
 * (decryptions: coordinators; ceremonies: administrators) when the call's metadata arrives,
 * before any message of theirs is read.
 */
let consortium: Consortium;
let keyholder: ChildProcess;
let address: string;

beforeAll(async () => {
  consortium = await createConsortium(1, 'pin', { keyholders: 1, ledger: true });
  await consortium.local.registerKeyholders();
  const started = await startKeyholderProcess(
    consortium.local.keyholderConfig(consortium.keyholders[0]!),
    join(consortium.directory, 'keyholder-1.json'),
    () => {},
  );
  keyholder = started.child;
  address = `127.0.0.1:${started.port}`;
}, 120_000);

afterAll(async () => {
  if (keyholder) await stopProcesses([keyholder]);
});

function client(identity: TlsIdentity): KeyholderServiceClient {
  const { credentials, channelOptions } = tlsChannel(identity, 64 * 1024 * 1024);
  return new KeyholderServiceClient(identity.address, credentials, channelOptions);
}

/** Opens both decryption streams, writes nothing, and returns how each call ended. */
async function openAndWait(identity: TlsIdentity, waitMs: number) {
  const keyholderClient = client(identity);
  const deadline = () => new Date(Date.now() + waitMs);
  try {
    const partial = new Promise<grpc.StatusObject>((resolve) => {
      const call = keyholderClient.partialDecrypt(new grpc.Metadata(), { deadline: deadline() });
      call.on('status', resolve);
      call.on('error', () => {});
      call.on('data', () => {});
    });
    const prepare = new Promise<grpc.ServiceError | null>((resolve) => {
      keyholderClient.prepareDecryption(new grpc.Metadata(), { deadline: deadline() }, (error) =>
        resolve(error),
      );
    });
    return { partial: await partial, prepare: await prepare };
  } finally {
    keyholderClient.close();
  }
}

describe('a keyholder refuses decryption streams from anyone but a coordinator before reading a message', () => {
  it("a member's streams are refused at once, though it has sent nothing", async () => {
    const member = consortium.members[0]!;
    const { partial, prepare } = await openAndWait(
      { ...consortium.profile(member, 0), address },
      20_000,
    );
    expect(partial.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(partial.details).toMatch(
      new RegExp(`organisation ${member} may not ask for decryptions at keyholder keyholder-1`),
    );
    expect(prepare?.code).toBe(grpc.status.PERMISSION_DENIED);
  }, 60_000);

  it("a member's other calls (GetKey) are refused too: no message of a member is read at a keyholder", async () => {
    const member = consortium.members[0]!;
    const keyholderClient = client({ ...consortium.profile(member, 0), address });
    try {
      const error = await new Promise<grpc.ServiceError | null>((resolve) =>
        keyholderClient.getKey(
          { keySha256: Buffer.alloc(32) },
          new grpc.Metadata(),
          { deadline: new Date(Date.now() + 20_000) },
          (failure) => resolve(failure),
        ),
      );
      expect(error?.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(error?.details).toMatch(new RegExp(`organisation ${member} may not call GetKey`));
    } finally {
      keyholderClient.close();
    }
  }, 60_000);

  it("the coordinator's streams are let through (they wait for its first message)", async () => {
    const { partial, prepare } = await openAndWait(
      {
        address,
        caCertificate: consortium.pki.caCertificatePath,
        certificate: consortium.pki.server.certificatePath,
        privateKey: consortium.pki.server.privateKeyPath,
      },
      2_000,
    );
    expect(partial.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(prepare?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
  }, 60_000);
});
