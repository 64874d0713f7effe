import type * as grpc from '@grpc/grpc-js';
import { unauthenticated } from './grpc-errors.ts';

/** Any server call: all expose the TLS peer's certificate. */
export type AuthenticatedCall = Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getAuthContext'>;

/** The caller's organisation: subject O of its mTLS client certificate. */
export function callerOrganisation(call: AuthenticatedCall): string {
  const subject = call.getAuthContext().sslPeerCertificate?.subject as unknown as
    Record<string, string | string[]> | undefined;
  const organisation = subject?.O;
  if (typeof organisation !== 'string' || organisation.length === 0) {
    throw unauthenticated(
      'the client certificate carries no organisation (subject O); use a certificate issued by the consortium CA',
    );
  }
  return organisation;
}
