import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { MemberServiceService } from '../../proto/gen/veilsum/v1/member.ts';
import { memberService } from '../../services/member/member-service.ts';
import { MemberMetrics } from '../../services/member/metrics.ts';

type Dependencies = Parameters<typeof memberService>[0];

/**
 * The bank peer's MemberService on 127.0.0.1 (insecure: the tests using it play a caller that
 * is already authenticated), over the fakes a test passes for the queue, follower, coordinator
 * client and callers; a silent logger, fresh metrics, no ledger and the default CKKS precision
 * unless the test names them. The caller shuts the server down.
 */
export async function serveMemberService(
  dependencies: Partial<Record<keyof Dependencies, unknown>>,
): Promise<{ server: grpc.Server; port: number }> {
  const service = memberService({
    memberId: 'bank-a',
    ledger: undefined,
    logger: pino({ level: 'silent' }),
    metrics: new MemberMetrics(),
    ckksPrecision: 5e-5,
    ...dependencies,
  } as unknown as Dependencies);
  const server = new grpc.Server();
  server.addService(MemberServiceService, service);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  return { server, port };
}
