import { Command } from '@commander-js/extra-typings';
import { runService } from './run-service.ts';
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
      await runService(() => new Coordinator(loadCoordinatorConfig(options.config)));
    });
  return coordinator;
}
