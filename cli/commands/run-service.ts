import type { Logger } from 'pino';

interface Service {
  readonly logger: Logger;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** How a service that cannot start (or fails unexpectedly later) ends: non-zero, saying why. */
export const EXIT_START_FAILED = 1;

/**
 * Starts a long-running service and stops it cleanly on SIGTERM / SIGINT. A service that cannot
 * start — unreadable config, corrupt store, address in use — logs the reason and exits non-zero
 * at once, so a supervisor sees the failure instead of a process that is alive but not listening.
 * `service` may be a factory, so failures while building it (config, store) end the same way.
 */
export async function runService(service: Service | (() => Service)): Promise<void> {
  let running: Service | undefined;
  const fail = (stage: string, error: unknown): never => {
    const reason = (error as Error)?.message ?? String(error);
    running?.logger.fatal({ event: 'start-failed', stage, reason }, `${stage} failed`);
    console.error(`veilsum: ${stage} failed: ${reason}`);
    process.exit(EXIT_START_FAILED);
  };
  process.on('unhandledRejection', (error) => fail('service', error));
  try {
    running = typeof service === 'function' ? service() : service;
    await running.start();
  } catch (error) {
    fail('start', error);
  }
  const started = running!;
  const stop = (signal: string) => {
    started.logger.info({ event: 'stopping', signal }, 'stopping');
    started
      .stop()
      .then(() => process.exit(0))
      .catch(() => process.exit(1));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
