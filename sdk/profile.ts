import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import type { ConnectOptions } from './veilsum-client.ts';

/** A connection profile: where the coordinator is and which certificate to present. */
const profileSchema = z.object({
  address: z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port'),
  caCertificate: z.string().min(1),
  certificate: z.string().min(1),
  privateKey: z.string().min(1),
  serverName: z.string().optional(),
});

export type Profile = z.infer<typeof profileSchema>;

export function loadProfile(path: string): ConnectOptions {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read profile ${path}: ${(error as Error).message}`);
  }
  const parsed = profileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(
      `invalid profile ${path}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  const base = dirname(resolve(path));
  const at = (file: string) => resolve(base, file);
  const profile = parsed.data;
  return {
    address: profile.address,
    caCertificate: at(profile.caCertificate),
    certificate: at(profile.certificate),
    privateKey: at(profile.privateKey),
    ...(profile.serverName ? { serverName: profile.serverName } : {}),
  };
}
