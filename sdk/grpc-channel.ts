import * as grpc from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { VeilsumError } from './errors.ts';
import { checkIdentityFiles } from './identity-files.ts';

/** Where a client connects and with which consortium certificate. */
export interface TlsIdentity {
  readonly address: string;
  readonly caCertificate: string;
  readonly certificate: string;
  readonly privateKey: string;
  /** Name the server certificate must carry (default localhost). */
  readonly serverName?: string;
}

/**
 * An mTLS channel as a consortium identity: credentials and channel options for generated
 * clients, the caller's organisation (certificate subject O) and its raw Ed25519 secret key
 * (which signs protocol messages).
 */
export function tlsChannel(identity: TlsIdentity, maxMessageBytes = 4 * 1024 * 1024) {
  const files = checkIdentityFiles(identity);
  const key = files.privateKey;
  const certificate = files.certificate;
  const credentials = grpc.credentials.createSsl(files.caCertificate, key, certificate);
  const channelOptions = {
    'grpc.ssl_target_name_override': identity.serverName ?? 'localhost',
    'grpc.default_authority': identity.serverName ?? 'localhost',
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    // 16 MiB receive windows (services/common/mtls-server.ts: HTTP2_WINDOW_BYTES, the servers' side).
    'grpc-node.flow_control_window': 16 * 1024 * 1024,
  };
  const jwk = files.parsedKey.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || jwk.d === undefined) {
    throw new VeilsumError(
      'connect',
      status.INVALID_ARGUMENT,
      `${identity.privateKey} is not an Ed25519 private key`,
    );
  }
  const subject = files.parsedCertificate.subject;
  return {
    credentials,
    channelOptions,
    organisation: /(?:^|\n)O=([^\n]+)/.exec(subject)?.[1] ?? '',
    identitySecretKey: new Uint8Array(Buffer.from(jwk.d, 'base64url')),
  };
}

export function deadline(ms: number): Partial<grpc.CallOptions> {
  return { deadline: new Date(Date.now() + ms) };
}

export function unary<T>(
  call: (done: (error: grpc.ServiceError | null, value?: T) => void) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) =>
    call((error, value) => (error ? reject(error) : resolve(value as T))),
  );
}
