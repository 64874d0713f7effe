// A stand-in for `veilsum member start` under a Node supervisor that forks it with an IPC
// channel (child_process.fork, pm2's fork mode): it takes the peer's Node options the way the
// command does (withMemberNodeOptions, which may re-execute it), then tells its parent it is up.
import { withMemberNodeOptions } from '../../services/member/node-options.ts';

withMemberNodeOptions();
if (typeof process.send !== 'function') {
  process.stderr.write('the IPC channel to the parent is gone\n');
  process.exit(3);
}
process.send('ready', () => process.disconnect());
