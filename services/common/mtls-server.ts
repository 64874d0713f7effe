import { readFileSync } from 'node:fs';
import type { Http2Server, ServerHttp2Session } from 'node:http2';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import * as grpc from '@grpc/grpc-js';

/**
 * Binds a gRPC server with mutual TLS: the service's certificate, and client certificates
 * required and checked against the consortium CA. Resolves with the bound port.
 */
export function bindMtls(
  server: grpc.Server,
  listen: string,
  tls: { caCertificate: string; certificate: string; privateKey: string },
  options: {
    identify?: (peer: PeerCertificate) => string | undefined;
    limits?: ConnectionLimits;
    /**
     * 'tls' (default): TLS refuses a client certificate that does not chain to the CA. 'service':
     * TLS asks for one but lets any through, and the service's interceptor must refuse every
     * call whose certificate it does not bind — so it can say why (the bank's peer does, for
     * callers who would otherwise read only "Failed to connect").
     */
    verifyClients?: 'tls' | 'service';
    /** Called with each new connection (after admission), e.g. to keep its peer certificate. */
    onSession?: (session: ServerHttp2Session) => void;
    /**
     * Largest HTTP/2 DATA frame clients may send (SETTINGS_MAX_FRAME_SIZE; protocol default
     * 16 KiB). A service that takes large uploads raises it: fewer frames, each a callback and a
     * buffer on this side (the member peer measured less CPU per MB with 1 MiB).
     */
    maxFrameBytes?: number;
  } = {},
): Promise<number> {
  const limits = options.limits ?? DEFAULT_CONNECTION_LIMITS;
  const credentials = grpc.ServerCredentials.createSsl(
    readFileSync(tls.caCertificate),
    [{ cert_chain: readFileSync(tls.certificate), private_key: readFileSync(tls.privateKey) }],
    true,
  );
  if (options.verifyClients === 'service') {
    const constructorOptions = (
      credentials as unknown as { serverConstructorOptions?: { requestCert?: boolean } }
    ).serverConstructorOptions;
    if (constructorOptions?.requestCert !== true)
      throw new Error(
        'this @grpc/grpc-js has no serverConstructorOptions: update services/common/mtls-server.ts',
      );
    Object.assign(constructorOptions, { rejectUnauthorized: false });
  }
  const internals = serverInternals(server);
  // Streams advertise a large window in the server's SETTINGS (before the HTTP/2 server exists),
  // and at most limits.streamsPerConnection of them open at once on one connection.
  internals.commonServerOptions.settings = {
    ...internals.commonServerOptions.settings,
    initialWindowSize: HTTP2_WINDOW_BYTES,
    ...(options.maxFrameBytes !== undefined ? { maxFrameSize: options.maxFrameBytes } : {}),
    maxConcurrentStreams: limits.streamsPerConnection,
  };
  const connections = new ConnectionsPerCaller(limits.connectionsPerCaller, options.identify);
  return new Promise<number>((resolve, reject) =>
    server.bindAsync(listen, credentials, (error, port) => {
      if (error) return reject(error);
      for (const http2Server of internals.http2Servers.keys())
        http2Server.on('session', (session) => {
          // The connection window is not a SETTING: each session raises its own.
          session.setLocalWindowSize(HTTP2_WINDOW_BYTES);
          if (connections.admit(session)) options.onSession?.(session);
        });
      resolve(port);
    }),
  );
}

/** Stops a server: calls still waiting get `graceMs` to finish, then are cancelled. */
export function shutdownGracefully(server: grpc.Server, graceMs = 2_000): Promise<void> {
  return new Promise<void>((resolve) => {
    const force = setTimeout(() => server.forceShutdown(), graceMs);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}

/**
 * Memory one caller can make a server hold with messages it never finishes: grpc-js reads eagerly
 * and keeps a partial message (up to the server's message limit: 4 MiB on the coordinator, 64 MiB
 * on keyholders) until it is complete. Calls of a certificate that binds to no organisation
 * (`identify`: the server's CallerIdentities) are refused when their metadata arrives, before a
 * message is read; what a bound organisation sends is read. So connections are admitted by
 * caller: at most `connectionsPerCaller` per bound organisation, however many certificates it
 * presents, and UNBOUND_CONNECTIONS in all for certificates that bind to none (they still get
 * their PERMISSION_DENIED and its reason; minting certificates gains nothing) — and at most
 * `streamsPerConnection` streams per connection (HTTP/2 refuses the rest; a well-behaved client
 * queues them; 16 leaves room for other calls beside a member's 8 upload streams). With the
 * defaults one organisation can hold 8 × 16 × 4 MiB = 512 MiB on the coordinator, which every
 * member may call. An SDK client uses one connection and a few streams;
 * a member may run several processes. Connections whose peer vanished without closing them
 * (network cut, host crash) would keep their slots: servers ping every `keepaliveMs` and drop a
 * connection whose ping is not answered within as long again (`keepaliveServerOptions`).
 */
export interface ConnectionLimits {
  readonly connectionsPerCaller: number;
  readonly streamsPerConnection: number;
  readonly keepaliveMs: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  connectionsPerCaller: 8,
  streamsPerConnection: 16,
  keepaliveMs: 30_000,
};
export const UNBOUND_CONNECTIONS = 8;

/** grpc.Server options that drop a connection whose peer stopped answering pings. */
export function keepaliveServerOptions(
  limits: ConnectionLimits = DEFAULT_CONNECTION_LIMITS,
): Record<string, number> {
  return {
    'grpc.keepalive_time_ms': limits.keepaliveMs,
    'grpc.keepalive_timeout_ms': limits.keepaliveMs,
  };
}

/** Open HTTP/2 sessions by caller; a session past its caller's limit is closed at once. */
class ConnectionsPerCaller {
  private readonly perCaller: number;
  private readonly identify: ((peer: PeerCertificate) => string | undefined) | undefined;
  private readonly open = new Map<string, number>();

  constructor(perCaller: number, identify?: (peer: PeerCertificate) => string | undefined) {
    this.perCaller = perCaller;
    this.identify = identify;
  }

  /** Whether the session was admitted. */
  admit(session: ServerHttp2Session): boolean {
    const peer = (session.socket as TLSSocket).getPeerCertificate?.();
    const hasPeer = peer !== undefined && peer !== null && Object.keys(peer).length > 0;
    // Without an identity policy a certificate's SHA-256 names the caller.
    const organisation = !hasPeer
      ? undefined
      : this.identify
        ? this.identify(peer)
        : peer.fingerprint256;
    const caller = organisation === undefined ? '' : `bound:${organisation}`;
    const limit = organisation === undefined ? UNBOUND_CONNECTIONS : this.perCaller;
    const count = (this.open.get(caller) ?? 0) + 1;
    if (count > limit) {
      // No stream of this connection is read.
      session.destroy();
      return false;
    }
    this.open.set(caller, count);
    session.once('close', () => {
      const left = (this.open.get(caller) ?? 1) - 1;
      if (left <= 0) this.open.delete(caller);
      else this.open.set(caller, left);
    });
    return true;
  }
}

/**
 * HTTP/2 flow-control window for every stream and connection of our services and clients: 16 MiB.
 * At the protocol's default of 64 KiB a 330 MB upload stream (10^6 parameters) needs 5 000
 * window updates, each a round trip through two busy event loops: the measured CKKS round spent
 * most of its keyholder check waiting for them. The window is what a peer may send ahead of the
 * server's reading, 16 MiB per connection; grpc-js reads eagerly and holds a partial message
 * until it is complete, so what bounds memory is message sizes, streams per connection and
 * connections per caller (above).
 */
export const HTTP2_WINDOW_BYTES = 16 * 1024 * 1024;

/**
 * grpc-js (1.14) takes no option for a server's receive windows: its constructor options and its
 * HTTP/2 servers are reached here, and a grpc-js that no longer has them fails loudly at start-up
 * rather than running with 64 KiB windows unnoticed.
 */
function serverInternals(server: grpc.Server): {
  commonServerOptions: { settings?: Record<string, number> };
  http2Servers: Map<Http2Server, unknown>;
} {
  const internals = server as unknown as {
    commonServerOptions?: { settings?: Record<string, number> };
    http2Servers?: Map<Http2Server, unknown>;
  };
  if (typeof internals.commonServerOptions !== 'object' || !(internals.http2Servers instanceof Map))
    throw new Error(
      'this @grpc/grpc-js has no commonServerOptions/http2Servers: update services/common/mtls-server.ts',
    );
  return internals as {
    commonServerOptions: { settings?: Record<string, number> };
    http2Servers: Map<Http2Server, unknown>;
  };
}
