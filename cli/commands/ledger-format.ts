/**
 * How the audit commands print ledger records. A record may hold what today's contract would
 * refuse (written by an older contract, or read from another backend): printing never throws.
 */
import type { ConsentRecord } from '../../ledger/records.ts';

/** A ledger time as ISO 8601, or what it holds when that is no date (never a crash). */
export function when(ms: number | null | undefined): string {
  if (typeof ms !== 'number') return 'unknown';
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `${ms} (not a valid date)` : date.toISOString();
}

/** Revoked, or valid until its expiry (a record without `revokedAt` is read as not revoked). */
export function consentState(consent: ConsentRecord): string {
  return typeof consent.revokedAt === 'number'
    ? `revoked ${when(consent.revokedAt)}`
    : `valid until ${when(consent.expiresAt)}`;
}

export const CONSENT_COLUMNS = [
  'member',
  'consent',
  'dataset',
  'purpose',
  'granted',
  'expires',
  'revoked',
] as const;

export function consentRow(consent: ConsentRecord): string[] {
  return [
    consent.memberId,
    consent.consentId,
    consent.datasetId,
    consent.purpose,
    when(consent.grantedAt),
    when(consent.expiresAt),
    typeof consent.revokedAt === 'number' ? when(consent.revokedAt) : '',
  ];
}

/** RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}
