import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { certificatesOf, issuerOf } from '../../crypto/certificate-bundle.ts';
import type { PeerCertificate as TlsPeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import {
  permissionDenied,
  type RequestError,
  unauthenticated,
} from '../../sdk/common/grpc-errors.ts';
import { refusingInterceptor } from './service-edge.ts';

/** Any server call: all expose the TLS peer's certificate. */
export type AuthenticatedCall = Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getAuthContext'>;

/**
 * The caller's organisation: subject O of its mTLS client certificate. Trustworthy only on a
 * server whose calls pass through `CallerIdentities.interceptor`, which binds the O to a
 * configured certificate or to the identity issuer before any handler runs.
 */
export function callerOrganisation(call: AuthenticatedCall): string {
  const organisation = organisationOf(call.getAuthContext().sslPeerCertificate);
  if (organisation === undefined) {
    throw unauthenticated(
      'the client certificate carries no organisation (subject O); use a certificate issued by the consortium CA',
    );
  }
  return organisation;
}

type PeerCertificate = TlsPeerCertificate | undefined;

function organisationOf(peer: PeerCertificate): string | undefined {
  const subject = peer?.subject as unknown as Record<string, string | string[]> | undefined;
  const organisation = subject?.O;
  return typeof organisation === 'string' && organisation.length > 0 ? organisation : undefined;
}

/**
 * Who may claim which organisation. TLS accepts any certificate chaining to a CA of the bundle;
 * a bundle can hold several CAs (another consortium's, a new CA during a rotation), and any of
 * them can write any O into a certificate. So an O counts only when it is bound:
 *   - pinned: an organisation with a configured certificate (a coordinator's members, the
 *     certificates listed in `identityCertificates`) must present exactly that certificate;
 *   - otherwise the certificate must be issued by an identity issuer: every CA of the
 *     `tls.identityIssuer` file (old and new during a CA rotation), or the bundle's only CA.
 *     With several CAs and no issuer named, unpinned callers are refused.
 */
export class CallerIdentities {
  private readonly pinned = new Map<string, X509Certificate>();
  private readonly issuers: readonly X509Certificate[];
  private readonly bundleSize: number;

  constructor(options: {
    caCertificate: string;
    identityIssuer?: string | undefined;
    pinned: readonly { id: string; certificate: string }[];
  }) {
    const bundle = certificatesOf(readFileSync(options.caCertificate, 'utf8'));
    this.bundleSize = bundle.length;
    if (options.identityIssuer !== undefined) {
      this.issuers = certificatesOf(readFileSync(options.identityIssuer, 'utf8'));
      if (this.issuers.length === 0)
        throw new Error(`tls.identityIssuer ${options.identityIssuer} holds no PEM certificate`);
    } else this.issuers = bundle.length === 1 ? bundle : [];
    for (const { id, certificate } of options.pinned) {
      const [cert] = certificatesOf(readFileSync(certificate, 'utf8'));
      if (cert === undefined) throw new Error(`certificate ${certificate} of ${id} holds no PEM`);
      const organisation = /(?:^|\n)O=([^\n]+)/.exec(cert.subject)?.[1];
      if (organisation !== id)
        throw new Error(
          `certificate ${certificate} has subject O=${organisation}, expected O=${id}`,
        );
      this.pinned.set(id, cert);
    }
  }

  /** The organisation a certificate binds to, or undefined (for connection admission). */
  readonly organisationOf = (peer: PeerCertificate): string | undefined => {
    const bound = this.bind(peer);
    return typeof bound === 'string' ? bound : undefined;
  };

  /** Whether organisations without a pinned certificate can be authenticated at all. */
  get hasIssuer(): boolean {
    return this.issuers.length > 0;
  }

  /** The caller's bound organisation, or a RequestError saying why it is not bound. */
  bind(peer: PeerCertificate): string | RequestError {
    const organisation = organisationOf(peer);
    if (peer?.raw === undefined || organisation === undefined)
      return unauthenticated(
        'the client certificate carries no organisation (subject O); use a certificate issued by the consortium CA',
      );
    const presented = new X509Certificate(peer.raw);
    const pinned = this.pinned.get(organisation);
    if (pinned !== undefined) {
      if (pinned.fingerprint256 === presented.fingerprint256) return organisation;
      return permissionDenied(
        `the certificate presented for O=${organisation} (issuer ${oneLine(presented.issuer)}, SHA-256 ${presented.fingerprint256}) is not the certificate configured for ${organisation} (SHA-256 ${pinned.fingerprint256}); a certificate from another CA cannot stand in for it`,
      );
    }
    if (this.issuers.length === 0)
      return permissionDenied(
        `O=${organisation} has no configured certificate and the CA bundle holds ${this.bundleSize} CAs, so its issuer cannot be trusted to name it; set tls.identityIssuer or list its certificate in identityCertificates`,
      );
    if (issuerOf(presented, this.issuers) !== undefined) return organisation;
    return permissionDenied(
      `the certificate presented for O=${organisation} was issued by ${oneLine(presented.issuer)}, not by the identity issuer ${this.issuers.map((ca) => oneLine(ca.subject)).join(' or ')}; another CA in the bundle cannot name consortium identities`,
    );
  }

  /**
   * A server interceptor that answers every call whose certificate is not bound with its status
   * before any handler sees it (unary and streaming alike). `callers` may name, per method path,
   * the only organisations that may call it: anyone else is refused (PERMISSION_DENIED) the same
   * way, before a single message of theirs is read — a stream's messages are held in memory until
   * complete, so a caller a method would refuse must not get to send one.
   */
  interceptor(
    logger: Logger,
    callers: (
      path: string,
    ) => { readonly allowed: readonly string[]; readonly action: string } | undefined = () =>
      undefined,
  ): grpc.ServerInterceptor {
    return refusingInterceptor(logger, (path, call) => {
      const bound = this.bind(call.getAuthContext().sslPeerCertificate);
      if (typeof bound !== 'string') return bound;
      const only = callers(path);
      if (only !== undefined && !only.allowed.includes(bound))
        return permissionDenied(`organisation ${bound} may not ${only.action}`);
      return undefined;
    });
  }
}

function oneLine(distinguishedName: string): string {
  return distinguishedName.replace(/\n/g, ', ');
}
