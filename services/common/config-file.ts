import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { z } from 'zod';

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

/** The TLS section every service config has, with its paths resolved. */
export function resolveTls(
  tls: { caCertificate: string; certificate: string; privateKey: string },
  at: (file: string) => string,
) {
  return {
    caCertificate: at(tls.caCertificate),
    certificate: at(tls.certificate),
    privateKey: at(tls.privateKey),
  };
}
