import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect as connectNet, createServer, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { connect as connectTls, type TLSSocket } from 'node:tls';
import type { ClientHttp2Session } from 'node:http2';
import { DEFAULT_CONNECTION_LIMITS } from '../../services/common/mtls-server.ts';
import { VeilsumClient } from '../../sdk/veilsum-client.ts';
import type { CkksServiceClient } from '../../proto/gen/veilsum/v1/ckks.ts';
import { type Consortium, CoordinatorProcess, createConsortium } from '../support/consortium.ts';
import { openHttp2Connection } from '../support/http2-connection.ts';

/**
 * ATTACK (availability): any member may call the coordinator, and grpc-js holds a partial
 * message (up to the coordinator's 4 MiB message limit) in memory until it is complete. One
 * certificate opening many connections, each with many streams that send most of a message and
 * never finish it, pinned memory without bound (+315 MB for 100 streams of 3 MiB, attacker
 * review). Defence (services/common/mtls-server.ts): at most streamsPerConnection streams per
 * connection (refused by HTTP/2 beyond it) and connectionsPerCaller connections per bound
 * organisation (closed at once beyond it): what one member can pin is bounded.
 *
 * The attacker here does not use a well-behaved HTTP/2 stack (which would queue streams past the
 * server's limit): it writes HTTP/2 frames itself and opens streams regardless. The cap must not
 * lock out honest members either (second review): closed SDK clients must give their connection
 * back, and connections whose peer vanished must be dropped (server keepalive, short here).
 */
const { connectionsPerCaller, streamsPerConnection } = DEFAULT_CONNECTION_LIMITS;
const KEEPALIVE_MS = 1_000;
let consortium: Consortium;
let coordinator: CoordinatorProcess;

beforeAll(async () => {
  consortium = await createConsortium(3, 'pin');
  consortium.config = {
    ...consortium.config,
    connections: { ...DEFAULT_CONNECTION_LIMITS, keepaliveMs: KEEPALIVE_MS },
  };
  writeFileSync(consortium.configPath, JSON.stringify(consortium.config));
  coordinator = await CoordinatorProcess.start(consortium);
}, 120_000);

afterAll(async () => {
  await coordinator?.stop();
});

const tlsOf = (member: string) => {
  const profile = consortium.profile(member, coordinator.port);
  return {
    ca: readFileSync(profile.caCertificate),
    cert: readFileSync(profile.certificate),
    key: readFileSync(profile.privateKey),
    // The attacker does not care who the server is.
    checkServerIdentity: () => undefined,
  };
};

function frame(type: number, flags: number, stream: number, payload: Uint8Array): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(stream, 5);
  return Buffer.concat([header, payload]);
}

/** HPACK literal header fields without indexing, new names (RFC 7541 §6.2.2). */
function headerBlock(fields: [string, string][]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields)
    parts.push(
      Buffer.from([0x00, name.length]),
      Buffer.from(name),
      Buffer.from([value.length]),
      Buffer.from(value),
    );
  return Buffer.concat(parts);
}

/**
 * Opens `streams` gRPC calls on one raw HTTP/2 connection as `member`, each sending the start of
 * a 4 MiB message that never ends, without waiting for the server's SETTINGS; resolves with the
 * streams the server reset (RST_STREAM) within `waitMs`, with their error codes.
 */
async function floodStreams(
  member: string,
  streams: number,
  waitMs: number,
): Promise<{ stream: number; code: number }[]> {
  const socket: TLSSocket = connectTls({
    host: '127.0.0.1',
    port: coordinator.port,
    ALPNProtocols: ['h2'],
    ...tlsOf(member),
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  expect(socket.alpnProtocol).toBe('h2');
  const resets: { stream: number; code: number }[] = [];
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 9) {
      const length = pending.readUIntBE(0, 3);
      if (pending.length < 9 + length) break;
      const [type, flags] = [pending[3]!, pending[4]!];
      const stream = pending.readUInt32BE(5) & 0x7fffffff;
      if (type === 0x4 && (flags & 0x1) === 0) socket.write(frame(0x4, 0x1, 0, Buffer.alloc(0)));
      // The server's keepalive pings are answered: the connection stays up as long as the
      // attacker likes, and no stream is reset because the connection looked dead.
      if (type === 0x6 && (flags & 0x1) === 0)
        socket.write(frame(0x6, 0x1, 0, pending.subarray(9, 9 + length)));
      if (type === 0x3) resets.push({ stream, code: pending.readUInt32BE(9) });
      pending = pending.subarray(9 + length);
    }
  });
  socket.on('error', () => {});
  socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
  socket.write(frame(0x4, 0, 0, Buffer.alloc(0)));
  const message = Buffer.alloc(16_000);
  message.writeUInt8(0, 0);
  message.writeUInt32BE(4 * 1024 * 1024 - 64, 1); // a message under the limit, never finished
  for (let i = 0; i < streams; i++) {
    const id = 2 * i + 1;
    socket.write(
      frame(
        0x1,
        0x4, // END_HEADERS
        id,
        headerBlock([
          [':method', 'POST'],
          [':scheme', 'https'],
          [':path', '/veilsum.v1.RoundAdminService/GetRound'],
          [':authority', 'localhost'],
          ['content-type', 'application/grpc'],
          ['te', 'trailers'],
        ]),
      ),
    );
    socket.write(frame(0x0, 0, id, message));
  }
  await new Promise((resolve) => setTimeout(resolve, waitMs));
  socket.destroy();
  return resets;
}

/** A well-behaved HTTP/2 connection as `member`: resolves whether the server kept it open. */
function openConnection(member: string) {
  const { ca: _ca, checkServerIdentity: _check, ...keyPair } = tlsOf(member);
  return openHttp2Connection(coordinator.port, {
    caCertificatePath: consortium.pki.caCertificatePath,
    ...keyPair,
  });
}

describe('one certificate cannot pin the coordinator with streams that never finish', () => {
  it(`streams past ${streamsPerConnection} on one connection are refused, whatever the client does`, async () => {
    const streams = streamsPerConnection + 24;
    const resets = await floodStreams(consortium.members[0]!, streams, 2_000);
    // Exactly the streams past the limit are refused (REFUSED_STREAM), the first ones are held.
    const REFUSED_STREAM = 0x7;
    expect(resets.map(({ code }) => code)).toEqual(Array<number>(24).fill(REFUSED_STREAM));
    const firstRefused = 2 * streamsPerConnection + 1;
    expect(resets.every(({ stream }) => stream >= firstRefused)).toBe(true);
  }, 60_000);

  it(`connections past ${connectionsPerCaller} of one certificate are closed; other members and later connections are not affected`, async () => {
    const [first, second] = consortium.members as [string, string];
    const sessions: ClientHttp2Session[] = [];
    try {
      const opened: boolean[] = [];
      for (let i = 0; i < connectionsPerCaller + 2; i++) {
        const { session, open } = await openConnection(first);
        sessions.push(session);
        opened.push(open);
      }
      expect(opened).toEqual([...Array<boolean>(connectionsPerCaller).fill(true), false, false]);
      // Another member's certificate has its own allowance.
      const other = await openConnection(second);
      sessions.push(other.session);
      expect(other.open).toBe(true);
      // Closing one of the first member's connections frees its slot.
      await new Promise<void>((resolve) => sessions[0]!.close(resolve));
      await new Promise((resolve) => setTimeout(resolve, 300));
      const again = await openConnection(first);
      sessions.push(again.session);
      expect(again.open).toBe(true);
    } finally {
      for (const session of sessions) session.destroy();
    }
  }, 60_000);
});

describe('the cap does not lock out honest members', () => {
  it('closed SDK clients give their connection back: more clients than the cap, one after another, all reach the service', async () => {
    const member = consortium.members[2]!;
    const codes: number[] = [];
    for (let i = 0; i < connectionsPerCaller + 2; i++) {
      const client = VeilsumClient.connect({
        ...consortium.profile(member, coordinator.port),
        retry: { totalMs: 1_000, initialDelayMs: 50, maxDelayMs: 100 },
      });
      // The SDK's CKKS client is what participateCkks calls first (GetEncryptionKey); asked here
      // directly, for a round that does not exist, so that its channel is connected when closed.
      const ckks = (client as unknown as { ckks: CkksServiceClient }).ckks;
      codes.push(
        await new Promise<number>((resolve) =>
          ckks.getEncryptionKey(
            { roundId: 'no-such-round' },
            new grpc.Metadata(),
            { deadline: new Date(Date.now() + 10_000) },
            (error) => resolve(error ? error.code : grpc.status.OK),
          ),
        ),
      );
      client.close();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // Every one reached the coordinator (NOT_FOUND), none was refused a connection (UNAVAILABLE).
    expect(codes).toEqual(Array<number>(connectionsPerCaller + 2).fill(grpc.status.NOT_FOUND));
  }, 60_000);

  it('connections whose peer vanished without closing them are dropped, and their slots come back', async () => {
    // A TCP relay standing in for the network: when it "fails" it drops the member's side and
    // keeps the coordinator's side open and silent — a peer that vanished without FIN or RST.
    const upstreams: Socket[] = [];
    let blackHole = false;
    const relay = createServer((downstream) => {
      const upstream = connectNet(coordinator.port, '127.0.0.1');
      upstreams.push(upstream);
      upstream.on('error', () => {});
      downstream.on('error', () => {});
      downstream.on('data', (data) => !blackHole && upstream.write(data));
      upstream.on('data', (data) => !blackHole && downstream.write(data));
      downstream.on('close', () => {
        if (!blackHole) upstream.destroy();
      });
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const relayPort = (relay.address() as { port: number }).port;
    const member = consortium.members[1]!;
    const { ca: _ca, checkServerIdentity: _check, ...keyPair } = tlsOf(member);
    const tls = { caCertificatePath: consortium.pki.caCertificatePath, ...keyPair };
    try {
      for (let i = 0; i < connectionsPerCaller; i++) {
        const { session, open } = await openHttp2Connection(relayPort, tls);
        expect(open).toBe(true);
        blackHole = true; // the network fails
        session.destroy();
        await new Promise((resolve) => setTimeout(resolve, 50));
        blackHole = false;
      }
      // Keepalive pings go unanswered: within a few keepalive periods every slot is free again.
      let open = false;
      for (let attempt = 0; attempt < 20 && !open; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, KEEPALIVE_MS));
        const connection = await openHttp2Connection(coordinator.port, tls);
        connection.session.destroy();
        open = connection.open;
      }
      expect(open).toBe(true);
    } finally {
      for (const upstream of upstreams) upstream.destroy();
      relay.close();
    }
  }, 60_000);
});
