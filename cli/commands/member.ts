import { Command } from '@commander-js/extra-typings';
import { runService } from './run-service.ts';
import { loadMemberConfig } from '../../services/member/config.ts';
import { MemberPeer } from '../../services/member/member-peer.ts';

export function memberCommand(): Command {
  const member = new Command('member').description(
    "Run a bank's aggregation peer: it takes part in rounds for the bank with the updates its people submit",
  );
  member
    .command('start')
    .description(
      "Start the bank's peer from one config file; resumes or settles every update found in its data folder",
    )
    .requiredOption('--config <path>', 'member peer config (JSON)')
    .action(async (options) => {
      await runService(() => new MemberPeer(loadMemberConfig(options.config)));
    });
  return member;
}
