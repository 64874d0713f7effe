import type { Logger } from 'pino';

/** Starts a long-running service and stops it cleanly on SIGTERM / SIGINT. */
export async function runService(service: {
  readonly logger: Logger;
  start(): Promise<void>;
  stop(): Promise<void>;
}): Promise<void> {
  await service.start();
  const stop = (signal: string) => {
    service.logger.info({ event: 'stopping', signal }, 'stopping');
    service
      .stop()
      .then(() => process.exit(0))
      .catch(() => process.exit(1));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
