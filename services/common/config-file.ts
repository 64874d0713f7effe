import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';

/**
 * Reads a service's JSON configuration file and validates it, naming every problem by its path.
 * Returns the data and a resolver for paths relative to the file's folder, so a config and its
 * certificates can move together.
 */
export function loadJsonConfig<Schema extends z.ZodType>(
  path: string,
  schema: Schema,
  what: string,
): { config: z.infer<Schema>; at: (file: string) => string } {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read ${what} config ${path}: ${(error as Error).message}`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    throw new Error(`invalid ${what} config ${path}:\n  ${problems.join('\n  ')}`);
  }
  const base = dirname(resolve(path));
  return { config: parsed.data, at: (file: string) => resolve(base, file) };
}

/**
 * The TLS section every service config has. `identityIssuer` names the CA whose certificates may
 * claim an organisation that has no configured certificate (services/common/caller.ts); without
 * it, that is the CA bundle's only certificate.
 */
export const tlsSchema = z.object({
  caCertificate: z.string().min(1),
  certificate: z.string().min(1),
  privateKey: z.string().min(1),
  identityIssuer: z.string().min(1).optional(),
});

/** Certificates that callers claiming these organisations must present exactly. */
export const identityCertificatesSchema = z
  .array(z.object({ id: z.string().min(1), certificate: z.string().min(1) }))
  .default([]);

/** The TLS section with its paths resolved. */
export function resolveTls(tls: z.infer<typeof tlsSchema>, at: (file: string) => string) {
  return {
    caCertificate: at(tls.caCertificate),
    certificate: at(tls.certificate),
    privateKey: at(tls.privateKey),
    ...(tls.identityIssuer ? { identityIssuer: at(tls.identityIssuer) } : {}),
  };
}
