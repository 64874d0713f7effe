import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';

/**
 * Binds a gRPC server with mutual TLS: the service's certificate, and client certificates
 * required and checked against the consortium CA. Resolves with the bound port.
 */
export function bindMtls(
  server: grpc.Server,
  listen: string,
  tls: { caCertificate: string; certificate: string; privateKey: string },
): Promise<number> {
  const credentials = grpc.ServerCredentials.createSsl(
    readFileSync(tls.caCertificate),
    [{ cert_chain: readFileSync(tls.certificate), private_key: readFileSync(tls.privateKey) }],
    true,
  );
  return new Promise<number>((resolve, reject) =>
    server.bindAsync(listen, credentials, (error, port) => (error ? reject(error) : resolve(port))),
  );
}
