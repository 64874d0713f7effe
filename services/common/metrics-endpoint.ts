import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/** Serves a Prometheus registry over plain HTTP at /metrics on `listen` (host:port). */
export async function serveMetrics(registry: Registry, listen: string): Promise<Server> {
  const [host, port] = listen.split(':') as [string, string];
  const server = createServer((request, response) => {
    if (request.url !== '/metrics') {
      response.writeHead(404).end('metrics are at /metrics\n');
      return;
    }
    registry
      .metrics()
      .then((body) => response.writeHead(200, { 'content-type': registry.contentType }).end(body))
      .catch((error: Error) => response.writeHead(500).end(error.message));
  });
  await new Promise<void>((resolve) => server.listen(Number(port), host, resolve));
  return server;
}
