import { parentPort } from 'node:worker_threads';
import type { MaskJob } from '../../crypto/secagg/server.ts';
import { combineMasks } from '../../crypto/secagg/server.ts';

/** Worker side of MaskPool: combines a slice of mask jobs and hands the buffer back (transfer). */
interface CombineRequest {
  readonly id: number;
  readonly jobs: readonly MaskJob[];
  readonly dimension: number;
}

parentPort!.on('message', (request: CombineRequest) => {
  const total = combineMasks(request.jobs, request.dimension);
  parentPort!.postMessage({ id: request.id, total }, [total.buffer as ArrayBuffer]);
});
