import { createServer, type Server } from 'node:http';
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * What every service's Prometheus metrics share: one registry with Node's process metrics, a
 * counter of gRPC requests by method and status code, and the /metrics endpoint. A service adds
 * its own metrics to `registry` (coordinator/metrics.ts, member/metrics.ts).
 */
export class ServiceMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'method' | 'code'>;

  constructor(names: {
    /** The request counter's name, e.g. veilsum_requests_total. */
    readonly requests: string;
    readonly requestsHelp: string;
    /** Prefix of Node's process metrics, e.g. veilsum_process_. */
    readonly processPrefix: string;
  }) {
    this.requests = new Counter({
      name: names.requests,
      help: names.requestsHelp,
      labelNames: ['method', 'code'] as const,
      registers: [this.registry],
    });
    collectDefaultMetrics({ register: this.registry, prefix: names.processPrefix });
  }

  /** Serves the registry over plain HTTP at /metrics on `listen` (host:port). */
  async serve(listen: string): Promise<Server> {
    const [host, port] = listen.split(':') as [string, string];
    const server = createServer((request, response) => {
      if (request.url !== '/metrics') {
        response.writeHead(404).end('metrics are at /metrics\n');
        return;
      }
      this.registry
        .metrics()
        .then((body) =>
          response.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
        )
        .catch((error: Error) => response.writeHead(500).end(error.message));
    });
    await new Promise<void>((resolve) => server.listen(Number(port), host, resolve));
    return server;
  }
}
