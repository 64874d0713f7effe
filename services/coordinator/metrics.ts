import { Counter, Gauge, Histogram } from 'prom-client';
import { ServiceMetrics } from '../common/service-metrics.ts';

/** Prometheus metrics of one coordinator process. No labels carry member data beyond ids. */
export class CoordinatorMetrics extends ServiceMetrics {
  readonly uploadBytes = new Counter({
    name: 'veilsum_upload_bytes_total',
    help: 'Bytes of masked input accepted',
    registers: [this.registry],
  });
  readonly roundsByPhase = new Gauge({
    name: 'veilsum_rounds',
    help: 'Rounds known to this coordinator, by phase',
    labelNames: ['phase'] as const,
    registers: [this.registry],
  });
  readonly quarantinedRounds = new Gauge({
    name: 'veilsum_rounds_quarantined',
    help: 'Rounds taken out of service because their stored data failed a digest check',
    registers: [this.registry],
  });
  readonly roundSeconds = new Histogram({
    name: 'veilsum_round_duration_seconds',
    help: 'Open-to-done time of finished rounds',
    buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 1800],
    registers: [this.registry],
  });

  constructor() {
    super({
      requests: 'veilsum_requests_total',
      requestsHelp: 'gRPC requests by method and resulting status code',
      processPrefix: 'veilsum_process_',
    });
  }
}
