import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { toServiceError } from '../../sdk/common/grpc-errors.ts';

/**
 * The edge every service shares: handlers throw typed errors; here they become a logged
 * rejection with the right gRPC status, and unary handlers get one wrapper.
 */
export function rejection(
  logger: Logger,
  method: string,
  error: unknown,
  context: Record<string, unknown> = {},
): grpc.ServiceError {
  const serviceError = toServiceError(error);
  const level = serviceError.code === grpc.status.INTERNAL ? 'error' : 'warn';
  logger[level](
    {
      event: 'request-rejected',
      method,
      code: grpc.status[serviceError.code],
      reason: serviceError.details,
      ...context,
      ...(level === 'error' ? { err: error } : {}),
    },
    'request rejected',
  );
  return Object.assign(new Error(serviceError.details), serviceError) as grpc.ServiceError;
}

/** A unary handler that may return or throw, sync or async; `fail` answers a thrown error. */
export function unaryHandler<Request, Response>(
  handler: (call: grpc.ServerUnaryCall<Request, Response>) => Response | Promise<Response>,
  fail: (error: unknown, send: (error: grpc.ServiceError) => void) => void,
  succeeded: () => void = () => {},
): grpc.handleUnaryCall<Request, Response> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => handler(call))
      .then((response) => {
        succeeded();
        callback(null, response);
      })
      .catch((error: unknown) => fail(error, (e) => callback(e)));
  };
}

/**
 * A server interceptor that answers a call with its refusal (logged, with its status) as soon as
 * its metadata arrives — before any handler runs and before one of its messages is read — when
 * `refuse` names one for the method path and call.
 */
export function refusingInterceptor(
  logger: Logger,
  refuse: (path: string, call: grpc.ServerInterceptingCallInterface) => unknown,
): grpc.ServerInterceptor {
  return (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            const refusal = refuse(method.path, call);
            if (refusal === undefined) {
              nextMetadata(metadata);
              return;
            }
            const refused = rejection(logger, method.path, refusal);
            call.sendStatus({
              code: refused.code,
              details: refused.details,
              metadata: new grpc.Metadata(),
            });
          },
        }),
    });
}
