import { Counter, Gauge, Histogram } from 'prom-client';
import { UpdateState, updateStateToJSON } from '../../proto/gen/veilsum/v1/member.ts';
import { ServiceMetrics } from '../common/service-metrics.ts';
import type { QueuedRecord } from './update-queue.ts';

/** Prometheus metrics of one bank's peer. Labels carry no update data. */
export class MemberMetrics extends ServiceMetrics {
  readonly submittedBytes = new Counter({
    name: 'veilsum_member_submitted_bytes_total',
    help: 'Bytes of update values received from callers',
    registers: [this.registry],
  });
  readonly updates = new Gauge({
    name: 'veilsum_member_updates',
    help: 'Queued updates by state',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  readonly participationSeconds = new Histogram({
    name: 'veilsum_member_participation_seconds',
    help: 'Time from joining a round to its result',
    buckets: [0.5, 1, 5, 15, 60, 300, 1800],
    registers: [this.registry],
  });

  constructor() {
    super({
      requests: 'veilsum_member_requests_total',
      requestsHelp: 'MemberService requests by method and resulting status code',
      processPrefix: 'veilsum_member_process_',
    });
  }

  updateStates(records: readonly QueuedRecord[]): void {
    for (const state of Object.values(UpdateState)) {
      if (typeof state !== 'number' || state <= 0) continue;
      this.updates.set(
        { state: updateStateToJSON(state) },
        records.filter((record) => record.state === state).length,
      );
    }
  }
}
