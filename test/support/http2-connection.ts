import { readFileSync } from 'node:fs';
import { connect, type ClientHttp2Session } from 'node:http2';

/**
 * A well-behaved HTTP/2 connection to a service on 127.0.0.1 with a client certificate: resolves
 * whether the server kept it open (its SETTINGS arrived and a ping came back) or closed it.
 */
export async function openHttp2Connection(
  port: number,
  tls: { caCertificatePath: string; cert: Buffer; key: Buffer },
): Promise<{ session: ClientHttp2Session; open: boolean }> {
  const session = connect(`https://127.0.0.1:${port}`, {
    ca: readFileSync(tls.caCertificatePath),
    cert: tls.cert,
    key: tls.key,
    // The server's name is not what these tests are about.
    checkServerIdentity: () => undefined,
  });
  session.on('error', () => {});
  const open = await new Promise<boolean>((resolve) => {
    session.once('close', () => resolve(false));
    session.once('remoteSettings', () =>
      session.ping((error) => setTimeout(() => resolve(!error && !session.closed), 300)),
    );
  });
  return { session, open };
}
