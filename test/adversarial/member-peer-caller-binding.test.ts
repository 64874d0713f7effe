import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { bindMtls } from '../../services/common/mtls-server.ts';
import { BankCallers } from '../../services/member/bank-callers.ts';
import { createDevPki, type DevPki } from '../../services/pki/dev-ca.ts';

/**
 * Review (attacker, member peer): TLS lets every client certificate through to the peer's own
 * check (so a refused caller is told why), and the peer once bound a call to the certificate it
 * had seen on a connection *from the same remote address and port*. A local user on the host a
 * data scientist works from can reuse the victim's source port (SO_REUSEADDR) against a second
 * address of the peer, present no certificate at all, and be bound as the victim: submit for
 * every model the victim may, read results and consents.
 *
 * Played here with a server listening on every address, the victim on 127.0.0.1 → 127.0.0.1 and
 * the attacker from the victim's exact source address and port to 127.0.0.2. The attacker's call
 * must be refused (UNAUTHENTICATED) while the victim's connection is open, and the victim stays
 * bound as itself.
 */
describe("review: a certificate-less connection from a bound caller's address and port", () => {
  let directory: string;
  let pki: DevPki;
  let server: grpc.Server;
  let port: number;
  let callers: BankCallers;

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'veilsum-caller-binding-'));
    pki = await createDevPki(directory, [], [], 'CN=bank caller CA, O=bank-01', {
      servers: ['peer'],
      officers: ['alice'],
    });
    callers = new BankCallers(pki.caCertificatePath, [
      { commonName: 'alice', submit: ['*'], read: true },
    ]);
    server = new grpc.Server({ interceptors: [callers.interceptor(pino({ level: 'silent' }))] });
    const bytes = (value: Buffer) => value;
    server.addService(
      {
        who: {
          path: '/review.Caller/Who',
          requestStream: false,
          responseStream: false,
          requestSerialize: bytes,
          requestDeserialize: bytes,
          responseSerialize: bytes,
          responseDeserialize: bytes,
        },
      },
      {
        who: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
          const bound = callers.bindCall(call);
          callback(null, Buffer.from('commonName' in bound ? bound.commonName : 'unbound'));
        },
      },
    );
    const peer = pki.servers!['peer']!;
    port = await bindMtls(
      server,
      '0.0.0.0:0',
      {
        caCertificate: pki.caCertificatePath,
        certificate: peer.certificatePath,
        privateKey: peer.privateKeyPath,
      },
      { identify: callers.callerOf, verifyClients: 'service', onSession: callers.remember },
    );
  });

  afterAll(() => {
    server?.forceShutdown();
    rmSync(directory, { recursive: true, force: true });
  });

  /** One raw gRPC call; its status and, when it succeeded, whom the service bound it to. */
  function who(session: ClientHttp2Session): Promise<{ status: string; boundAs: string }> {
    return new Promise((resolve, reject) => {
      const request = session.request({
        ':method': 'POST',
        ':path': '/review.Caller/Who',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      const chunks: Buffer[] = [];
      let status = '';
      request.on('response', (headers) => {
        status = (headers['grpc-status'] as string | undefined) ?? status;
      });
      request.on('trailers', (trailers: Record<string, string | undefined>) => {
        status = trailers['grpc-status'] ?? status;
      });
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status, boundAs: body.length > 5 ? body.subarray(5).toString() : '' });
      });
      request.on('error', reject);
      request.end(Buffer.from([0, 0, 0, 0, 0]));
    });
  }

  function connectFrom(
    host: string,
    local: { address: string; port?: number },
    identity?: { certificatePath: string; privateKeyPath: string },
  ): ClientHttp2Session {
    const ca = readFileSync(pki.caCertificatePath);
    return http2Connect(`https://${host}:${port}`, {
      createConnection: () =>
        tlsConnect({
          // The TCP connection from the chosen source address and port (SO_REUSEADDR is Node's
          // default for the address it binds), then TLS over it.
          socket: netConnect({
            host,
            port,
            localAddress: local.address,
            ...(local.port === undefined ? {} : { localPort: local.port }),
          }),
          ca,
          servername: 'localhost',
          ...(identity
            ? {
                cert: readFileSync(identity.certificatePath),
                key: readFileSync(identity.privateKeyPath),
              }
            : {}),
          ALPNProtocols: ['h2'],
        }),
    });
  }

  it('is refused while the victim stays bound as itself', async () => {
    const sourcePort = 40_000 + Math.floor(Math.random() * 20_000);
    const victim = connectFrom(
      '127.0.0.1',
      { address: '127.0.0.1', port: sourcePort },
      pki.officers!['alice'],
    );
    let attacker: ClientHttp2Session | undefined;
    try {
      expect(await who(victim)).toEqual({ status: '0', boundAs: 'alice' });
      // The victim's exact source address and port, to another address of the peer, no certificate.
      attacker = connectFrom('127.0.0.2', { address: '127.0.0.1', port: sourcePort });
      expect(await who(attacker)).toEqual({
        status: String(grpc.status.UNAUTHENTICATED),
        boundAs: '',
      });
      // The attacker's connection closing must not unbind the victim.
      attacker.close();
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await who(victim)).toEqual({ status: '0', boundAs: 'alice' });
    } finally {
      attacker?.close();
      victim.close();
    }
  });
});
