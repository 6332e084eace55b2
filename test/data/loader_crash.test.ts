// Loader worker crashes: a worker that dies (process.exit in the thread, an uncaught exception) is
// replaced, its batch retried item by item, a sample that kills a worker again reported as failed,
// and a loader whose workers keep dying fails with a LoaderError. Real worker threads, real files;
// the crash is injected through loader_worker.ts's test-only NS_TEST_LOADER_CRASH hook.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { DataLoader, LoaderError, type BatchResult, type SampleError } from '../../src/data/loader.js';
import { fileDataset } from '../../src/data/datasets/dataset.js';
import { resolveDataConfig } from '../../src/data/data_config.js';

const dir = mkdtempSync(join(tmpdir(), 'ns-loader-crash-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const N = 8;
const POISON = 3;
const paths: string[] = [];
test.before(async () => {
  for (let i = 0; i < N; i++) {
    const p = join(dir, i === POISON ? `poison${i}.png` : `ok${i}.png`);
    await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 20 * i, g: 255 - 20 * i, b: 7 * i } } })
      .png()
      .toFile(p);
    paths.push(p);
  }
});
const dataset = () =>
  fileDataset(
    paths,
    Int32Array.from(paths, (_, i) => i % 2),
    ['a', 'b'],
  );
const transform = { config: resolveDataConfig({ inputSize: [3, 32, 32] }) };

/** Fail instead of hanging: before the fix a dead worker's batch never settled. */
async function within<T>(p: Promise<T>, what: string, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms / 1000} s (the loader hangs)`)), ms);
  });
  try {
    return await Promise.race([p, hang]);
  } finally {
    clearTimeout(timer);
  }
}

async function collect(loader: DataLoader): Promise<BatchResult[]> {
  const out: BatchResult[] = [];
  for await (const b of loader.epoch(0)) out.push(b);
  return out;
}

function withCrashHook<T>(hook: object, body: () => Promise<T>): Promise<T> {
  process.env['NS_TEST_LOADER_CRASH'] = JSON.stringify(hook);
  return body().finally(() => delete process.env['NS_TEST_LOADER_CRASH']);
}

test('a worker that dies on a sample is replaced: every other sample arrives, that one is reported failed', async () => {
  for (const how of ['exit', 'throw'] as const) {
    const reported: SampleError[] = [];
    await withCrashHook({ match: 'poison', how }, async () => {
      await using loader = new DataLoader(dataset(), { batchSize: 2, numWorkers: 2, transform, onSampleError: (e) => reported.push(e) });
      const batches = await within(collect(loader), `epoch with a worker dying by ${how}`);
      const got = batches.flatMap((b) => [...b.indices]).sort((a, b) => a - b);
      assert.deepEqual(
        got,
        Array.from({ length: N }, (_, i) => i).filter((i) => i !== POISON),
        how,
      );
      assert.equal(loader.stats.skipped, 1, how);
      assert.equal(loader.stats.samples, N - 1, how);
      assert.equal(reported.length, 1, how);
      assert.equal(reported[0]!.index, POISON);
      assert.equal(reported[0]!.path, paths[POISON]);
      assert.match(reported[0]!.message, /loader worker (exited|crashed)/);
      // The sample that shares the poisoned batch is not lost with it.
      assert.ok(got.includes(POISON - 1), how);
    });
  }
});

test('a one-off crash (the worker dies the first time only) loses nothing and changes no pixel', async () => {
  await using reference = new DataLoader(dataset(), { batchSize: 2, numWorkers: 0, transform });
  const expected = await collect(reference);
  const once = join(dir, 'crashed-once');
  await withCrashHook({ match: 'poison', how: 'throw', once }, async () => {
    await using loader = new DataLoader(dataset(), { batchSize: 2, numWorkers: 2, transform });
    const batches = await within(collect(loader), 'epoch with a one-off crash');
    assert.equal(loader.stats.skipped, 0);
    assert.equal(batches.length, expected.length);
    for (let i = 0; i < batches.length; i++) {
      assert.deepEqual(batches[i]!.indices, expected[i]!.indices);
      assert.ok(Buffer.from(batches[i]!.data.buffer).equals(Buffer.from(expected[i]!.data.buffer)), `batch ${i} differs`);
    }
  });
});

test('workers that keep dying fail the loader with a LoaderError instead of respawning forever', async () => {
  await withCrashHook({ match: '\\.png$', how: 'exit' }, async () => {
    await using loader = new DataLoader(dataset(), { batchSize: 2, numWorkers: 1, transform });
    await assert.rejects(within(collect(loader), 'epoch whose every batch kills its worker'), (e: Error) => {
      assert.ok(e instanceof LoaderError, `${e.name}: ${e.message}`);
      assert.match(e.message, /loader workers keep dying/);
      return true;
    });
  });
});

test('close() settles queued and in-flight batches instead of leaving them pending', async () => {
  const loader = new DataLoader(dataset(), { batchSize: 2, numWorkers: 1, transform });
  const inFlight = loader.fetch(0, 0, [0, 1]);
  const queued = loader.fetch(0, 1, [2, 3]);
  const both = Promise.allSettled([inFlight, queued]);
  await loader.close();
  const settled = await within(both, 'batches of a closed loader');
  for (const s of settled) {
    assert.equal(s.status, 'rejected');
    assert.match((s as PromiseRejectedResult).reason.message, /loader (is )?closed/);
  }
});

test('a worker that dies holding decode bytes gives them back: the budget does not shrink to a hang', async () => {
  // A budget of one byte admits one decode at a time; bytes leaked by the dead worker would make
  // every later decode wait forever.
  await withCrashHook({ match: 'poison', how: 'exit', at: 'decode' }, async () => {
    await using loader = new DataLoader(dataset(), { batchSize: 2, numWorkers: 2, transform, maxDecodeBytesInFlight: 1 });
    const batches = await within(collect(loader), 'epoch after a worker died holding decode bytes');
    assert.equal(batches.flatMap((b) => [...b.indices]).length, N - 1);
    assert.equal(loader.stats.skipped, 1);
    assert.equal(loader.stats.errors[0]!.index, POISON);
  });
});
