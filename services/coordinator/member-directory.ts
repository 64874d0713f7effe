import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * Members known to the coordinator, with the Ed25519 identity key read from each member's
 * certificate: the key that authenticates its TLS connection also signs its SecAgg messages.
 */
export interface Member {
  readonly id: string;
  readonly identityKey: Uint8Array;
}

export function loadMemberDirectory(
  members: readonly { id: string; certificate: string }[],
): Map<string, Member> {
  const directory = new Map<string, Member>();
  for (const { id, certificate } of members) {
    const cert = new X509Certificate(readFileSync(certificate));
    const organisation = /(?:^|\n)O=([^\n]+)/.exec(cert.subject)?.[1];
    if (organisation !== id) {
      throw new Error(
        `certificate ${certificate} has subject O=${organisation ?? '(none)'}, expected O=${id}`,
      );
    }
    if (cert.publicKey.asymmetricKeyType !== 'ed25519') {
      throw new Error(
        `certificate of member ${id} must carry an Ed25519 key (it signs SecAgg messages)`,
      );
    }
    const jwk = cert.publicKey.export({ format: 'jwk' });
    directory.set(id, { id, identityKey: new Uint8Array(Buffer.from(jwk.x!, 'base64url')) });
  }
  return directory;
}
