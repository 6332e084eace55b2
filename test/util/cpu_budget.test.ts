// The cores this process may use (affinity mask, cgroup v1/v2 CFS quota, NOISY_STUDENT_CPUS) and the
// thread plan's overrides, from fixture strings; then the live process, which must be a count in
// [1, host CPUs] that taskset narrows.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import {
  cgroupCpuQuota,
  commandPlanKind,
  cpuBudget,
  cpusAllowedFromStatus,
  parseCfsQuota,
  parseCgroupMounts,
  parseCpuList,
  parseCpuMax,
  parseProcCgroup,
  resolveCpuBudget,
  threadPlan,
  type CpuBudget,
} from '../../src/util/cpu_budget.js';

const V2_MOUNTINFO = [
  '25 30 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot',
  '31 30 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
].join('\n');
const V1_MOUNTINFO = [
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
  '34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset',
  '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');

/** A fake cgroup file system: path -> content. */
const files =
  (m: Record<string, string>) =>
  (p: string): string | null =>
    m[p] ?? null;

describe('cpu budget: parsing', () => {
  it('counts a Cpus_allowed_list, ranges and single CPUs', () => {
    assert.equal(parseCpuList('0-3,8,10-11'), 7);
    assert.equal(parseCpuList('0'), 1);
    assert.equal(parseCpuList('0-1\n'), 2);
    assert.throws(() => parseCpuList(''), /empty/);
    assert.throws(() => parseCpuList('3-1'), /backwards/);
    assert.throws(() => parseCpuList('0-3,x'), /bad cpu list/);
    const status = 'Name:\tnode\nCpus_allowed:\tf0f\nCpus_allowed_list:\t0-3,8,10-11\nMems_allowed:\t1\n';
    assert.equal(cpusAllowedFromStatus(status), 7);
    assert.equal(cpusAllowedFromStatus('Name:\tnode\n'), null);
  });

  it('reads cgroup v2 cpu.max and v1 cfs quota/period', () => {
    assert.equal(parseCpuMax('max 100000\n'), null);
    assert.equal(parseCpuMax('150000 100000\n'), 1.5);
    assert.equal(parseCpuMax('200000 50000'), 4);
    assert.throws(() => parseCpuMax('lots 100000'), /bad cpu.max/);
    assert.throws(() => parseCpuMax(''), /bad cpu.max/);
    assert.equal(parseCfsQuota('-1\n', '100000\n'), null);
    assert.equal(parseCfsQuota('250000\n', '100000\n'), 2.5);
    assert.throws(() => parseCfsQuota('0', '100000'), /bad cpu.cfs_quota_us/);
  });

  it('finds the cgroup mounts and the process’s own cgroups', () => {
    const m = parseCgroupMounts(V1_MOUNTINFO);
    assert.deepEqual(
      m.map((x) => [x.mountPoint, x.fsType]),
      [
        ['/sys/fs/cgroup/cpu,cpuacct', 'cgroup'],
        ['/sys/fs/cgroup/cpuset', 'cgroup'],
        ['/sys/fs/cgroup/unified', 'cgroup2'],
      ],
    );
    assert.ok(m[0]!.superOptions.includes('cpu') && !m[1]!.superOptions.includes('cpu'));
    assert.deepEqual(parseProcCgroup('0::/user.slice/app.scope\n'), { v2: '/user.slice/app.scope', v1cpu: null });
    assert.deepEqual(parseProcCgroup('4:memory:/x\n3:cpu,cpuacct:/docker/abc\n2:cpuset:/\n0::/\n'), { v2: '/', v1cpu: '/docker/abc' });
  });
});

describe('cpu budget: cgroup quota', () => {
  it('v2: the smallest cpu.max from the own cgroup up to the root', () => {
    const read = files({
      '/sys/fs/cgroup/kubepods/pod1/c1/cpu.max': 'max 100000\n',
      '/sys/fs/cgroup/kubepods/pod1/cpu.max': '150000 100000\n',
      '/sys/fs/cgroup/kubepods/cpu.max': '800000 100000\n',
    });
    assert.equal(cgroupCpuQuota(V2_MOUNTINFO, '0::/kubepods/pod1/c1\n', read), 1.5);
    assert.equal(cgroupCpuQuota(V2_MOUNTINFO, '0::/kubepods\n', read), 8);
    assert.equal(cgroupCpuQuota(V2_MOUNTINFO, '0::/elsewhere\n', read), null);
  });

  it('v1: cpu.cfs_quota_us / cpu.cfs_period_us of the cpu controller’s hierarchy', () => {
    const read = files({
      '/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us': '300000\n',
      '/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us': '100000\n',
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '-1\n',
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
    });
    assert.equal(cgroupCpuQuota(V1_MOUNTINFO, '3:cpu,cpuacct:/docker/abc\n0::/\n', read), 3);
    assert.equal(cgroupCpuQuota(V1_MOUNTINFO, '3:cpu,cpuacct:/\n0::/\n', read), null);
  });

  it('a container whose own cgroup is mounted as the root of the hierarchy', () => {
    // No cgroup namespace: /proc/self/cgroup names the host path; the mount's root is that path.
    const mountinfo = '25 30 0:22 /docker/abc /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw';
    const read = files({ '/sys/fs/cgroup/cpu.max': '50000 100000\n' });
    assert.equal(cgroupCpuQuota(mountinfo, '0::/docker/abc\n', read), 0.5);
  });

  it('an unreadable or malformed file limits nothing', () => {
    const read = files({ '/sys/fs/cgroup/a/cpu.max': 'garbage' });
    assert.equal(cgroupCpuQuota(V2_MOUNTINFO, '0::/a\n', read), null);
  });
});

describe('cpu budget: combining and overriding', () => {
  it('min(affinity, ceil(quota)), at least 1; NOISY_STUDENT_CPUS wins', () => {
    assert.deepEqual(resolveCpuBudget({ affinity: 8, quota: null }), { cpus: 8, source: 'affinity', affinity: 8, quota: null });
    assert.equal(resolveCpuBudget({ affinity: 8, quota: 1.5 }).cpus, 2);
    assert.equal(resolveCpuBudget({ affinity: 8, quota: 1.5 }).source, 'cgroup-quota');
    assert.equal(resolveCpuBudget({ affinity: 8, quota: 0.2 }).cpus, 1);
    assert.equal(resolveCpuBudget({ affinity: 2, quota: 4 }).cpus, 2);
    assert.equal(resolveCpuBudget({ affinity: 2, quota: 4 }).source, 'affinity');
    const env = resolveCpuBudget({ affinity: 2, quota: 1, env: { NOISY_STUDENT_CPUS: '6' } });
    assert.deepEqual([env.cpus, env.source], [6, 'env']);
    assert.throws(() => resolveCpuBudget({ affinity: 2, quota: null, env: { NOISY_STUDENT_CPUS: '0' } }), /NOISY_STUDENT_CPUS/);
    assert.throws(() => resolveCpuBudget({ affinity: 2, quota: null, env: { NOISY_STUDENT_CPUS: 'two' } }), /NOISY_STUDENT_CPUS/);
  });

  it('a flag beats OMP_NUM_THREADS beats the plan; --workers beats the plan', () => {
    const budget: CpuBudget = { cpus: 8, source: 'affinity', affinity: 8, quota: null };
    const base = threadPlan('pseudo-label', { budget, env: {} });
    assert.ok(base.loaderWorkers >= 1 && base.intraOpThreads >= 1);
    assert.deepEqual(base.overridden, []);
    const omp = threadPlan('pseudo-label', { budget, env: { OMP_NUM_THREADS: '3' } });
    assert.deepEqual([omp.intraOpThreads, omp.loaderWorkers, omp.overridden], [3, base.loaderWorkers, ['threads']]);
    const flag = threadPlan('pseudo-label', { budget, env: { OMP_NUM_THREADS: '3' }, threads: 5, workers: 0 });
    assert.deepEqual([flag.intraOpThreads, flag.loaderWorkers, [...flag.overridden].sort()], [5, 0, ['threads', 'workers']]);
    // A worker count alone leaves the other cores to the intra-op threads (never fewer than 1).
    const w = threadPlan('pseudo-label', { budget, env: {}, workers: 3 });
    assert.deepEqual([w.intraOpThreads, w.loaderWorkers], [5, 3]);
    assert.equal(threadPlan('pseudo-label', { budget, env: {}, workers: 12 }).intraOpThreads, 1);
    // The env budget is what the plan splits, and the plan says it was set.
    const env = threadPlan('train', { env: { NOISY_STUDENT_CPUS: '1' } });
    assert.deepEqual([env.cpus, env.intraOpThreads, env.loaderWorkers, env.overridden], [1, 1, 0, ['cpus']]);
    assert.throws(() => threadPlan('train', { budget, env: {}, threads: 0 }), /threads/);
  });

  it("serve's decode workers share the cores with the model's threads (the model keeps every core)", () => {
    const budget: CpuBudget = { cpus: 2, source: 'affinity', affinity: 2, quota: null };
    const serve = threadPlan('serve', { budget, env: {} });
    assert.deepEqual([serve.intraOpThreads, serve.loaderWorkers], [2, 1]);
    assert.deepEqual([threadPlan('inference', { budget, env: {} }).intraOpThreads], [1]);
    assert.equal(threadPlan('serve', { budget, env: {}, workers: 0 }).intraOpThreads, 2);
    assert.equal(commandPlanKind('serve'), 'serve');
  });

  it('every kind splits any budget into >= 1 intra-op thread and a worker count below the cores', () => {
    for (const kind of ['train', 'pseudo-label', 'student', 'inference', 'serve'] as const)
      for (const n of [1, 2, 3, 4, 8, 16, 64]) {
        const p = threadPlan(kind, { budget: { cpus: n, source: 'affinity', affinity: n, quota: null }, env: {} });
        assert.ok(p.intraOpThreads >= 1 && p.intraOpThreads <= n, `${kind} ${n}: ${p.intraOpThreads} threads`);
        assert.ok(p.loaderWorkers >= 0 && p.loaderWorkers < Math.max(2, n), `${kind} ${n}: ${p.loaderWorkers} workers`);
        if (n === 1) assert.equal(p.loaderWorkers, 0);
      }
  });
});

describe('cpu budget: this process', () => {
  it('is between 1 and the host’s CPUs, and follows taskset', () => {
    const b = cpuBudget({});
    assert.ok(Number.isInteger(b.cpus) && b.cpus >= 1 && b.cpus <= cpus().length, `${b.cpus} of ${cpus().length}`);
    assert.notEqual(b.source, 'env');
    const taskset = spawnSync('taskset', ['--version']);
    if (taskset.status !== 0) return;
    const code = "import('./src/util/cpu_budget.ts').then((m) => console.log(m.cpuBudget({}).cpus))";
    const r = spawnSync('taskset', ['-c', '0', process.execPath, '--import', 'tsx', '-e', code], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), '1');
  });
});
