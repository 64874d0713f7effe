import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';

/**
 * The connection description a Fabric network publishes for its clients (`npm run fabric:up`
 * writes one; a production consortium hands each member its own): the channel, the chaincode,
 * every peer's gateway endpoint and TLS root, and the client identities this holder may use.
 * Relative paths are resolved against the file's folder.
 */
const endpoint = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port');

export const connectionFileSchema = z.object({
  channel: z.string().min(1),
  chaincode: z.string().min(1),
  /** The contract's name inside the chaincode (VeilsumContract registers 'veilsum'). */
  contract: z.string().min(1).default('veilsum'),
  peers: z
    .array(
      z.object({
        name: z.string().min(1),
        mspId: z.string().min(1),
        endpoint,
        tlsRootCertificate: z.string().min(1),
        /** TLS name to verify when `endpoint` is an IP address (the peer's DNS name). */
        hostNameOverride: z.string().min(1).optional(),
      }),
    )
    .min(1),
  identities: z.record(
    z.string(),
    z.object({
      mspId: z.string().min(1),
      certificate: z.string().min(1),
      privateKey: z.string().min(1),
      /** The peer this identity's gateway connects to by default. */
      peer: z.string().min(1),
    }),
  ),
});

export type ConnectionFile = z.infer<typeof connectionFileSchema>;
export type PeerEntry = ConnectionFile['peers'][number];
export type IdentityEntry = ConnectionFile['identities'][string];

export function loadConnectionFile(path: string): ConnectionFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(
      `cannot read the Fabric connection file ${path}: ${(error as Error).message} (npm run fabric:up writes one)`,
    );
  }
  const parsed = connectionFileSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    throw new Error(`invalid Fabric connection file ${path}:\n  ${problems.join('\n  ')}`);
  }
  const base = dirname(resolve(path));
  const at = (file: string) => resolve(base, file);
  const file = parsed.data;
  return {
    ...file,
    peers: file.peers.map((peer) => ({
      ...peer,
      tlsRootCertificate: at(peer.tlsRootCertificate),
    })),
    identities: Object.fromEntries(
      Object.entries(file.identities).map(([name, identity]) => [
        name,
        { ...identity, certificate: at(identity.certificate), privateKey: at(identity.privateKey) },
      ]),
    ),
  };
}
