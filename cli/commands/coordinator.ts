import { Command } from '@commander-js/extra-typings';
import { loadCoordinatorConfig } from '../../services/coordinator/config.ts';
import { Coordinator } from '../../services/coordinator/coordinator.ts';

export function coordinatorCommand(): Command {
  const coordinator = new Command('coordinator').description('Run the aggregation coordinator');
  coordinator
    .command('start')
    .description(
      'Start the coordinator from one config file; resumes every round found in its data folder',
    )
    .requiredOption('--config <path>', 'coordinator config (JSON)')
    .action(async (options) => {
      const service = new Coordinator(loadCoordinatorConfig(options.config));
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
    });
  return coordinator;
}
