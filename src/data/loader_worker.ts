// Worker-thread side of the loader: builds the transform once from workerData, then answers batch
// requests, transferring the float buffer back (no copy). Decode bytes are reserved from the
// pool's budget on the main thread (the pool gives back what a dead worker held).
import { writeFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { type BatchRequest, type TransformSpec, makeBatchRunner } from './loader_batch.js';
import type { LoadImageOptions } from './image_io.js';
import type { DecodeBudget } from './decode_budget.js';
import type { ToPool, ToWorker } from './loader_pool.js';

const { spec, decode } = workerData as { spec: TransformSpec; decode: LoadImageOptions };
const port = parentPort;
if (!port) throw new Error('loader_worker must run in a worker thread');
const post = (m: ToPool, transfer?: ArrayBuffer[]): void => port.postMessage(m, transfer);

/** The pool's byte budget, asked for over the port. */
const grants = new Map<number, () => void>();
let nextId = 0;
const budget: DecodeBudget = {
  reserve: (bytes) =>
    new Promise((resolve) => {
      const id = nextId++;
      grants.set(id, () => resolve(() => post({ type: 'release', id })));
      post({ type: 'reserve', id, bytes });
    }),
};
const run = makeBatchRunner(spec, decode, budget);

/**
 * TEST-ONLY fault injection (test/data/loader_crash.test.ts): a real worker crash cannot be caused
 * from outside on demand, so when NS_TEST_LOADER_CRASH holds JSON
 * `{ "match": "<regex>", "how": "exit" | "throw", "once"?: "<marker file>" }`, a worker given a batch
 * with a file path matching `match` dies instead of answering: `exit` ends the thread
 * (process.exit in a worker), `throw` raises an uncaught exception outside any promise chain. With
 * `once`, only the first worker to create the marker file dies (a one-off crash). With
 * `"at": "decode"` it dies later, holding its first decode-budget grant of that batch (to show the
 * pool gives a dead worker's bytes back). Never set in production; read once per worker.
 */
interface CrashHook {
  readonly match: string;
  readonly how: 'exit' | 'throw';
  readonly once?: string;
  readonly at?: 'start' | 'decode';
}
const hookEnv = process.env['NS_TEST_LOADER_CRASH'];
const hook: CrashHook | null = hookEnv ? (JSON.parse(hookEnv) as CrashHook) : null;

function crashesOn(req: BatchRequest): boolean {
  if (!hook) return false;
  const re = new RegExp(hook.match);
  if (!req.sources.some((s) => s.kind === 'file' && re.test(s.path))) return false;
  if (hook.once === undefined) return true;
  try {
    writeFileSync(hook.once, '', { flag: 'wx' });
    return true;
  } catch {
    return false; // someone already crashed once
  }
}

function crash(batch: number): void {
  if (hook!.how === 'exit') process.exit(70);
  setImmediate(() => {
    throw new Error(`test-injected loader worker crash on batch ${batch}`);
  });
}
/** The batch to die on once its first decode bytes are granted (hook `at: 'decode'`). */
let dieAtGrant: number | null = null;

port.on('message', (m: ToWorker) => {
  if (m.type === 'grant') {
    if (dieAtGrant !== null) return crash(dieAtGrant); // the grant is never released
    const grant = grants.get(m.id);
    grants.delete(m.id);
    grant?.();
    return;
  }
  const req = m.req;
  if (crashesOn(req)) {
    if (hook!.at !== 'decode') return crash(req.batch);
    dieAtGrant = req.batch;
  }
  run(req).then(
    (res) =>
      post({ type: 'result', ok: true, res }, [
        res.data.buffer as ArrayBuffer,
        res.indices.buffer as ArrayBuffer,
        res.labels.buffer as ArrayBuffer,
      ]),
    (e: unknown) => post({ type: 'result', ok: false, message: (e as Error).stack ?? String(e) }),
  );
});
