import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ServerHttp2Session } from 'node:http2';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { certificatesOf, issuerOf } from '../../crypto/certificate-bundle.ts';
import {
  permissionDenied,
  type RequestError,
  unauthenticated,
} from '../../sdk/common/grpc-errors.ts';
import type { AuthenticatedCall } from '../common/caller.ts';
import { refusingInterceptor } from '../common/service-edge.ts';
import type { CallerRole } from './config.ts';

const SUBMIT_PATH = '/veilsum.v1.MemberService/SubmitUpdate';

/**
 * The people inside the bank who call its peer: certificates of the bank's own caller CA (not the
 * consortium's), named by subject CN, each with a role from the config. TLS lets any certificate
 * through to this check (mtls-server.ts `verifyClients: 'service'`) so that a refused caller is
 * told why — which CA issued its certificate and which one the peer trusts — instead of a
 * handshake failure that its client reports as "Failed to connect".
 */
export class BankCallers {
  private readonly authorities: X509Certificate[];
  private readonly roles: Map<string, CallerRole>;
  /**
   * Client certificates that TLS did NOT verify, by connection (remote address:port), kept only
   * to tell a refused caller which CA issued its certificate. They never bind a call: a call's
   * caller is the certificate of its own connection, verified by TLS against the caller CA
   * (`getAuthContext()`); an address and port can be reused by another local user (review).
   */
  private readonly unverified = new Map<
    string,
    { session: ServerHttp2Session; peer: PeerCertificate | undefined }
  >();

  constructor(callerCaPath: string, callers: readonly CallerRole[]) {
    this.authorities = certificatesOf(readFileSync(callerCaPath, 'utf8'));
    if (this.authorities.length === 0)
      throw new Error(`tls.callerCa ${callerCaPath} holds no PEM certificate`);
    this.roles = new Map(callers.map((caller) => [caller.commonName, caller]));
  }

  /** Notes a new connection's unverified client certificate (or its absence) for refusals. */
  readonly remember = (session: ServerHttp2Session): void => {
    const socket = session.socket as TLSSocket;
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    const peer = socket.getPeerCertificate?.();
    // Always overwritten: a connection never inherits what an earlier one under its address left.
    this.unverified.set(key, {
      session,
      peer: peer !== undefined && Object.keys(peer).length > 0 ? peer : undefined,
    });
    session.once('close', () => {
      if (this.unverified.get(key)?.session === session) this.unverified.delete(key);
    });
  };

  /** The role of a call's caller, or why it has none. */
  bindCall(call: AuthenticatedCall & { getPeer(): string }): CallerRole | RequestError {
    const verified = call.getAuthContext().sslPeerCertificate;
    if (verified !== undefined) return this.bind(verified);
    // TLS did not verify this connection's certificate: refuse, and say why if we can tell.
    const explained = this.bind(this.unverified.get(call.getPeer())?.peer);
    return 'commonName' in explained
      ? unauthenticated(
          "the client certificate was not verified on this connection: call the bank's peer with a caller certificate from the bank's caller CA",
        )
      : explained;
  }

  /** The caller's role, or why it has none. */
  bind(peer: PeerCertificate | undefined, now = Date.now()): CallerRole | RequestError {
    if (peer?.raw === undefined)
      return unauthenticated(
        "no client certificate: call the bank's peer with a caller certificate from the bank's caller CA",
      );
    const presented = new X509Certificate(peer.raw);
    const commonName = /(?:^|\n)CN=([^\n]+)/.exec(presented.subject)?.[1] ?? '';
    if (issuerOf(presented, this.authorities) === undefined)
      return unauthenticated(
        `the client certificate (subject ${oneLine(presented.subject)}) was issued by ${oneLine(presented.issuer)}, not by this bank's caller CA (${this.authorities.map((ca) => oneLine(ca.subject)).join(' or ')}): ask the operator of the bank's peer for a caller certificate (a consortium certificate is not one)`,
      );
    if (Date.parse(presented.validTo) < now || Date.parse(presented.validFrom) > now)
      return unauthenticated(
        `the client certificate CN=${commonName} is valid only from ${presented.validFrom} to ${presented.validTo}: ask the operator of the bank's peer for a new one`,
      );
    const role = this.roles.get(commonName);
    if (role === undefined)
      return permissionDenied(
        `caller CN=${commonName} has no role on this peer: ask its operator to list it under "callers" with the models it may submit for or read access`,
      );
    return role;
  }

  /** The organisation-like key connection admission counts by (the CN of a bound caller). */
  readonly callerOf = (peer: PeerCertificate): string | undefined => {
    const bound = this.bind(peer);
    return 'commonName' in bound ? bound.commonName : undefined;
  };

  /**
   * Refuses every call of an unbound certificate, and a SubmitUpdate of a caller with no submit
   * role, before a message is read.
   */
  interceptor(logger: Logger): grpc.ServerInterceptor {
    return refusingInterceptor(logger, (path, call) => {
      const bound = this.bindCall(call);
      if (!('commonName' in bound)) return bound;
      if (path === SUBMIT_PATH && bound.submit.length === 0)
        return permissionDenied(
          `caller CN=${bound.commonName} may only read: ask the peer's operator for a submit role for the model`,
        );
      return undefined;
    });
  }
}

export function maySubmit(role: CallerRole, modelId: string): boolean {
  return role.submit.includes('*') || role.submit.includes(modelId);
}

export function mayRead(role: CallerRole): boolean {
  return role.read || role.submit.length > 0;
}

function oneLine(distinguishedName: string): string {
  return distinguishedName.replace(/\n/g, ', ');
}
