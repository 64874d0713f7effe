import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { connect, hash, signers, type Gateway } from '@hyperledger/fabric-gateway';
import type { PeerEntry } from './connection-file.ts';

/**
 * One gRPC connection to a peer's Gateway service, signing as one identity. `mspId` is what the
 * client claims; the peer checks it against the certificate.
 */
export interface GatewayConnection {
  readonly client: grpc.Client;
  readonly gateway: Gateway;
  close(): void;
}

export function openGatewayConnection(
  peer: PeerEntry,
  identity: { readonly mspId: string; readonly certificate: string; readonly privateKey: string },
): GatewayConnection {
  const client = new grpc.Client(
    peer.endpoint,
    grpc.credentials.createSsl(readFileSync(peer.tlsRootCertificate)),
    {
      // Dial the address, verify (and send SNI for) the name in the peer's certificate.
      ...(peer.hostNameOverride ? { 'grpc.ssl_target_name_override': peer.hostNameOverride } : {}),
      // gRPC's default reconnect backoff grows to 120 s: a peer back after an outage would go
      // unused (calls fail fast while the channel waits) for up to two minutes, and a client
      // that failed over would keep reading through another bank's peer. Retry within 5 s.
      'grpc.initial_reconnect_backoff_ms': 250,
      'grpc.max_reconnect_backoff_ms': 5_000,
    },
  );
  const gateway = connect({
    client,
    identity: { mspId: identity.mspId, credentials: readFileSync(identity.certificate) },
    signer: signers.newPrivateKeySigner(createPrivateKey(readFileSync(identity.privateKey))),
    hash: hash.sha256,
    evaluateOptions: () => ({ deadline: Date.now() + 15_000 }),
    endorseOptions: () => ({ deadline: Date.now() + 30_000 }),
    submitOptions: () => ({ deadline: Date.now() + 15_000 }),
    commitStatusOptions: () => ({ deadline: Date.now() + 60_000 }),
  });
  return {
    client,
    gateway,
    close: () => {
      gateway.close();
      client.close();
    },
  };
}
