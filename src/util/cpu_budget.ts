// The cores this process may use, and how a job splits them between libtorch's intra-op threads and
// the data loader's worker threads.
//
// The host's core count (os.cpus()) is the wrong number in a container or under taskset: a pod
// limited to 2 CPUs on a 64-core node that starts 64 OpenMP threads and 64 decode workers runs far
// slower than with 2 (each thread gets a slice of a quota, and OpenMP's barriers spin against each
// other). So the budget is the smaller of
//   - the affinity mask (sched_getaffinity: /proc/self/status Cpus_allowed_list; Node's
//     os.availableParallelism() follows it on Linux too), and
//   - the CFS quota of the process's cgroup and every cgroup above it (v2 cpu.max "quota period",
//     v1 cpu.cfs_quota_us / cpu.cfs_period_us), rounded up (1.5 CPUs of quota keep 2 threads busy
//     part of the time, better than 1 all of it),
// at least 1. NOISY_STUDENT_CPUS=N replaces the detected budget; a command's --threads / --workers
// (and OMP_NUM_THREADS for the intra-op threads) replace the part of the plan they name.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, posix } from 'node:path';

/** Count of CPUs in a Linux cpu list ("0-3,8,10-11" -> 7). Throws on a malformed list. */
export function parseCpuList(list: string): number {
  const s = list.trim();
  if (s === '') throw new Error('empty cpu list');
  let n = 0;
  for (const part of s.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new Error(`bad cpu list "${list}": "${part}"`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new Error(`bad cpu list "${list}": range ${part} runs backwards`);
    n += hi - lo + 1;
  }
  return n;
}

/** The Cpus_allowed_list of a /proc/<pid>/status text, counted; null when the field is absent. */
export function cpusAllowedFromStatus(status: string): number | null {
  const m = /^Cpus_allowed_list:\s*(\S+)\s*$/m.exec(status);
  return m ? parseCpuList(m[1]!) : null;
}

/** CPUs a cgroup v2 cpu.max grants ("150000 100000" -> 1.5); null for "max ..." (no limit). */
export function parseCpuMax(text: string): number | null {
  const [quota, period = '100000', ...rest] = text.trim().split(/\s+/);
  if (quota === undefined || quota === '' || rest.length > 0) throw new Error(`bad cpu.max "${text.trim()}"`);
  if (quota === 'max') return null;
  return quotaCpus(quota, period, 'cpu.max');
}

/** CPUs a cgroup v1 quota grants (cpu.cfs_quota_us, cpu.cfs_period_us); null for -1 (no limit). */
export function parseCfsQuota(quotaText: string, periodText: string): number | null {
  const quota = quotaText.trim();
  if (quota === '-1') return null;
  return quotaCpus(quota, periodText.trim(), 'cpu.cfs_quota_us');
}

function quotaCpus(quota: string, period: string, what: string): number {
  const q = Number(quota);
  const p = Number(period);
  if (!/^\d+$/.test(quota) || !/^\d+$/.test(period) || !(q > 0) || !(p > 0))
    throw new Error(`bad ${what}: quota "${quota}", period "${period}"`);
  return q / p;
}

export interface CgroupMount {
  readonly root: string;
  readonly mountPoint: string;
  readonly fsType: string;
  readonly superOptions: readonly string[];
}

/** The cgroup (v1 and v2) mounts of a /proc/self/mountinfo text. */
export function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    // "id parent major:minor root mountpoint options [optional fields] - fstype source superoptions"
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const fsType = right[0] ?? '';
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    out.push({
      root: unescapeMount(left[3] ?? '/'),
      mountPoint: unescapeMount(left[4] ?? ''),
      fsType,
      superOptions: (right[2] ?? '').split(','),
    });
  }
  return out;
}

// mountinfo writes space, tab, newline and backslash in paths as octal escapes.
const unescapeMount = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** The process's cgroup paths from /proc/self/cgroup: v2 (the "0::" line) and v1's cpu controller. */
export function parseProcCgroup(text: string): { v2: string | null; v1cpu: string | null } {
  let v2: string | null = null;
  let v1cpu: string | null = null;
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    if (m[1] === '0' && m[2] === '') v2 = m[3]!;
    else if (m[2]!.split(',').includes('cpu')) v1cpu = m[3]!;
  }
  return { v2, v1cpu };
}

/** Reads a file of the cgroup file system; null when it is not there (or not readable). */
export type ReadFile = (path: string) => string | null;

const readOrNull: ReadFile = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};

/**
 * The smallest CFS quota, in CPUs, on the path from the process's cgroup up to the hierarchy's root
 * (a parent's limit binds its children too); null when none is set. `read` stands in for the file
 * system in tests.
 */
export function cgroupCpuQuota(mountinfo: string, procCgroup: string, read: ReadFile = readOrNull): number | null {
  const mounts = parseCgroupMounts(mountinfo);
  const own = parseProcCgroup(procCgroup);
  let best: number | null = null;
  const take = (v: number | null): void => {
    if (v !== null && (best === null || v < best)) best = v;
  };
  const walk = (m: CgroupMount | undefined, path: string | null, quota: (dir: string) => number | null): void => {
    if (!m || path === null) return;
    // A mount of a sub-tree (a container's own cgroup mounted at /sys/fs/cgroup) shows the path
    // relative to its root; a path outside the mount (no cgroup namespace) is read from the mount.
    let rel = posix.normalize(path);
    if (m.root !== '/' && (rel === m.root || rel.startsWith(`${m.root}/`))) rel = rel.slice(m.root.length) || '/';
    for (;;) {
      take(quota(join(m.mountPoint, rel)));
      if (rel === '/' || rel === '.' || rel === '') break;
      rel = posix.dirname(rel);
    }
  };
  const safe = (f: () => number | null): number | null => {
    try {
      return f();
    } catch {
      return null; // a file we cannot make sense of limits nothing
    }
  };
  walk(
    mounts.find((m) => m.fsType === 'cgroup2'),
    own.v2,
    (dir) => {
      const t = read(join(dir, 'cpu.max'));
      return t === null ? null : safe(() => parseCpuMax(t));
    },
  );
  walk(
    mounts.find((m) => m.fsType === 'cgroup' && m.superOptions.includes('cpu')),
    own.v1cpu,
    (dir) => {
      const q = read(join(dir, 'cpu.cfs_quota_us'));
      const p = read(join(dir, 'cpu.cfs_period_us'));
      return q === null || p === null ? null : safe(() => parseCfsQuota(q, p));
    },
  );
  return best;
}

export interface CpuBudget {
  /** Cores the plan splits: the override, else min(affinity, ceil(quota)), at least 1. */
  readonly cpus: number;
  /** Where `cpus` came from. */
  readonly source: 'env' | 'affinity' | 'cgroup-quota';
  readonly affinity: number;
  /** The cgroup CFS quota in CPUs (unrounded), null when unlimited or not Linux. */
  readonly quota: number | null;
}

export const CPUS_ENV = 'NOISY_STUDENT_CPUS';

function positiveIntEnv(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${v}"`);
  return n;
}

/** Combine the detected facts (pure: tests give them). */
export function resolveCpuBudget(facts: { affinity: number; quota: number | null; env?: NodeJS.ProcessEnv }): CpuBudget {
  const over = positiveIntEnv(facts.env ?? {}, CPUS_ENV);
  const affinity = Math.max(1, Math.floor(facts.affinity));
  if (over !== undefined) return { cpus: over, source: 'env', affinity, quota: facts.quota };
  const q = facts.quota === null ? Infinity : Math.max(1, Math.ceil(facts.quota - 1e-9));
  return q < affinity
    ? { cpus: q, source: 'cgroup-quota', affinity, quota: facts.quota }
    : { cpus: affinity, source: 'affinity', affinity, quota: facts.quota };
}

/** The affinity mask's size: /proc/self/status where it exists, else Node's availableParallelism(). */
export function affinityCpus(read: ReadFile = readOrNull): number {
  const status = read('/proc/self/status');
  const n = status === null ? null : cpusAllowedFromStatus(status);
  return n ?? availableParallelism();
}

let cached: CpuBudget | null = null;

/** This process's budget (the files are read once; NOISY_STUDENT_CPUS is read on every call). */
export function cpuBudget(env: NodeJS.ProcessEnv = process.env): CpuBudget {
  if (!cached) {
    const mountinfo = readOrNull('/proc/self/mountinfo');
    const cg = readOrNull('/proc/self/cgroup');
    cached = { cpus: 0, source: 'affinity', affinity: affinityCpus(), quota: mountinfo && cg ? cgroupCpuQuota(mountinfo, cg) : null };
  }
  return resolveCpuBudget({ affinity: cached.affinity, quota: cached.quota, env });
}

export type ThreadPlanKind = 'train' | 'pseudo-label' | 'student' | 'inference' | 'serve';

export interface ThreadPlan {
  readonly kind: ThreadPlanKind;
  readonly cpus: number;
  readonly cpusSource: CpuBudget['source'];
  /** libtorch (and ONNX Runtime) intra-op threads. */
  readonly intraOpThreads: number;
  /** Data loader worker threads (0: decode on the main thread, libuv's pool). */
  readonly loaderWorkers: number;
  /** Which parts a flag or variable set rather than the plan. */
  readonly overridden: readonly ('threads' | 'workers' | 'cpus')[];
}

/**
 * Per kind of job: the share of the cores its loader needs, and whether its loader workers take cores
 * from the model's threads.
 *
 * The share is decode + transform time per image over the whole per-image time, measured with b0 at
 * 224 on this project's 2-vCPU machine (bench/data_plan.ts). A ~500x375 JPEG decodes and
 * eval-transforms in ~3 ms of one core, against ~15-25 ms of core time for the model's forward
 * (~1/6). Training adds augmentation but also the backward pass (~3x the forward), so its share is
 * smaller still.
 *
 * A job whose workers stream batches (training, pseudo-labelling) keeps them busy, so they take
 * their cores. serve's decode workers idle most of the time: a request's decode is ~3.5 ms, against
 * ~12 ms of model per image. So its model keeps every core. Measured on a quiet 2-vCPU machine, b0
 * 224, `npm run bench -- serve`: 2 threads + 1 worker gave 85.4 req/s at concurrency 32 and p99
 * 21 ms at 1; 1 thread + 1 worker gave 64.3 req/s and 26 ms.
 */
const KIND_RULES: Record<ThreadPlanKind, { readonly loaderShare: number; readonly workersTakeCores: boolean }> = {
  inference: { loaderShare: 1 / 6, workersTakeCores: true },
  'pseudo-label': { loaderShare: 1 / 6, workersTakeCores: true },
  serve: { loaderShare: 1 / 6, workersTakeCores: false },
  train: { loaderShare: 1 / 8, workersTakeCores: true },
  student: { loaderShare: 1 / 8, workersTakeCores: true },
};

/**
 * How a job of `kind` splits `cpus` cores:
 *
 * - loader workers: the loader's share of the cores, at least 1 when there are 2+ cores (one
 *   worker already takes decoding off the thread that feeds the model, and the loader decodes the
 *   next batch while the model runs this one); none on 1 core (a thread that can only time-slice
 *   with the model overlaps nothing and adds its start-up and messages);
 * - intra-op threads: the cores left, at least 1. Not every core: libtorch's OpenMP threads meet
 *   at a barrier after each op, so a thread that loses its core to a loader worker stalls the
 *   others. Measured on 2 vCPUs, pseudo-labelling 400 JPEGs with b0 at 224 (interleaved rounds,
 *   end to end): 1 thread + 1 worker 44-45 img/s in both rounds, 2 threads + 1 worker 31-47,
 *   2 threads + 0 workers 41-44 (results/issue14-thread-plan.md). Every core for a kind whose
 *   workers do not take cores (KIND_RULES: serve).
 *
 * `threads` / `workers` (the commands' --threads / --workers) replace the plan's numbers; a given
 * worker count leaves the rest of the cores to the threads. OMP_NUM_THREADS, when set, is the
 * thread count unless --threads is given.
 */
export function threadPlan(
  kind: ThreadPlanKind,
  o: { threads?: number | undefined; workers?: number | undefined; env?: NodeJS.ProcessEnv; budget?: CpuBudget } = {},
): ThreadPlan {
  const env = o.env ?? process.env;
  const budget = o.budget ?? cpuBudget(env);
  const overridden: ThreadPlan['overridden'][number][] = budget.source === 'env' ? ['cpus'] : [];
  const cpus = budget.cpus;
  let workers = cpus <= 1 ? 0 : Math.max(1, Math.round(cpus * KIND_RULES[kind].loaderShare));
  if (o.workers !== undefined) {
    if (!Number.isInteger(o.workers) || o.workers < 0) throw new RangeError(`workers must be a non-negative integer, got ${o.workers}`);
    workers = o.workers;
    overridden.push('workers');
  }
  let threads = Math.max(1, KIND_RULES[kind].workersTakeCores ? cpus - workers : cpus);
  const omp = positiveIntEnv(env, 'OMP_NUM_THREADS');
  if (o.threads !== undefined) {
    if (!Number.isInteger(o.threads) || o.threads < 1) throw new RangeError(`threads must be a positive integer, got ${o.threads}`);
    threads = o.threads;
    overridden.push('threads');
  } else if (omp !== undefined) {
    threads = omp;
    overridden.push('threads');
  }
  return { kind, cpus, cpusSource: budget.source, intraOpThreads: threads, loaderWorkers: workers, overridden };
}

/** The plan kind of a CLI command (null: the command chooses its own threads, or runs no model). */
export function commandPlanKind(command: string): ThreadPlanKind | null {
  switch (command) {
    case 'train':
    case 'run':
      return 'train';
    case 'student':
      return 'student';
    case 'pseudo-label':
      return 'pseudo-label';
    case 'predict':
    case 'features':
    case 'validate':
    case 'evaluate':
    case 'export-onnx':
      return 'inference';
    case 'serve':
      return 'serve';
    default:
      return null;
  }
}

/** The plan as one line for logs: "2 cpus (affinity): 2 intra-op threads, 1 loader worker". */
export function describeThreadPlan(p: ThreadPlan): string {
  const by = p.overridden.length ? `; set by ${p.overridden.join(', ')}` : '';
  return `${p.cpus} cpus (${p.cpusSource}): ${p.intraOpThreads} intra-op thread${p.intraOpThreads === 1 ? '' : 's'}, ${p.loaderWorkers} loader worker${p.loaderWorkers === 1 ? '' : 's'}${by}`;
}
