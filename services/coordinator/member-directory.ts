import { readFileSync } from 'node:fs';
import { identityOf } from '../../sdk/pki/certificates.ts';

/**
 * Members known to the coordinator, with the Ed25519 identity key read from each member's
 * certificate: the key that authenticates its TLS connection also signs its SecAgg messages.
 */
export interface Member {
  readonly id: string;
  readonly identityKey: Uint8Array;
  /** The member's certificate (PEM): served in rosters so members can check it themselves. */
  readonly certificate: string;
}

export function loadMemberDirectory(
  members: readonly { id: string; certificate: string }[],
): Map<string, Member> {
  const directory = new Map<string, Member>();
  for (const { id, certificate } of members) {
    const pem = readFileSync(certificate, 'utf8');
    const { organisation, identityKey } = identityOf(
      pem,
      `certificate ${certificate} of member ${id}`,
    );
    if (organisation !== id)
      throw new Error(`certificate ${certificate} has subject O=${organisation}, expected O=${id}`);
    directory.set(id, { id, identityKey, certificate: pem });
  }
  return directory;
}
