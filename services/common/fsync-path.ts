import { closeSync, fsyncSync, openSync } from 'node:fs';

/**
 * Flushes a file or a folder to disk: a folder after a rename or link in it, so the new name
 * survives a crash as well as the bytes behind it.
 */
export function fsyncPath(path: string): void {
  const descriptor = openSync(path, 'r');
  try {
    fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
}
