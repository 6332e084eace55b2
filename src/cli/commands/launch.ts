// `noisy-student launch`: start the ranks of a data-parallel job on this node, as torchrun does
// (src/distributed/launch.ts). The command after `--` is any program; a first word that names one
// of our subcommands (`-- train ...`) runs this same CLI, so `launch -- train` needs no path.
import { Command } from 'commander';
import { launch, launchDefaults } from '../../distributed/index.js';
import { intArg } from '../args.js';
import { CliError } from '../errors.js';

interface LaunchCliOptions {
  nprocPerNode: number;
  nnodes?: number;
  nodeRank?: number;
  masterAddr?: string;
  masterPort?: number;
  grace: number;
}

export default function launchCommand(): Command {
  const cmd = new Command('launch')
    .summary('run a command as the ranks of a data-parallel job (like torchrun)')
    .description(
      "Start --nproc-per-node copies of a command with torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, " +
        'MASTER_ADDR, MASTER_PORT) and OMP_NUM_THREADS = the cores this process may use / local ranks (unless set). ' +
        'When a rank fails the others are ended and launch exits non-zero naming it; run the same command again to resume ' +
        'from the last checkpoint. Several nodes: one launch per node, same --nnodes/--master-addr/--master-port, its own ' +
        '--node-rank (under Slurm or a Kubernetes indexed Job these default to what they set). ' +
        'Example: noisy-student launch --nproc-per-node 2 -- train --data fashion-mnist:train --output runs/a',
    )
    .argument('<command...>', 'the command each rank runs (after --), or one of our subcommands')
    .option('--nproc-per-node <n>', 'ranks on this node', intArg({ min: 1 }), 1)
    .option('--nnodes <n>', 'nodes in the job (default: SLURM_NNODES, else 1)', intArg({ min: 1 }))
    .option('--node-rank <n>', "this node's index (default: SLURM_NODEID or JOB_COMPLETION_INDEX, else 0)", intArg({ min: 0 }))
    .option('--master-addr <host>', "rank 0's host, where the TCPStore listens (default: MASTER_ADDR, Slurm's first node, else 127.0.0.1)")
    .option('--master-port <port>', 'the TCPStore port (default: MASTER_PORT, else 29500)', intArg({ min: 1, max: 65535 }))
    .option('--grace <seconds>', 'how long the other ranks get to end after one failed, before SIGKILL', intArg({ min: 0 }), 10);
  return cmd.action(async (command: string[], o: LaunchCliOptions, self: Command) => {
    const d = launchDefaults();
    const ours = new Set((self.parent?.commands ?? []).map((c) => c.name()).filter((n) => n !== 'launch'));
    // Our own CLI: the same node binary, its flags (tsx in a checkout) and entry script.
    const argv = ours.has(command[0]!) ? [process.execPath, ...process.execArgv, process.argv[1]!, ...command] : command;
    let r;
    try {
      r = await launch({
        nprocPerNode: o.nprocPerNode,
        nnodes: o.nnodes ?? d.nnodes,
        nodeRank: o.nodeRank ?? d.nodeRank,
        masterAddr: o.masterAddr ?? d.masterAddr,
        masterPort: o.masterPort ?? d.masterPort,
        command: argv,
        graceMs: o.grace * 1000,
      });
    } catch (e) {
      throw new CliError((e as Error).message, 2);
    }
    if (r.failed) {
      const f = r.failed;
      throw new CliError(
        `launch: rank ${f.rank} ${f.signal ? `was killed by ${f.signal}` : `exited with code ${f.code}`}; the other ranks were ended ` +
          '(run the same command again to resume from the last checkpoint)',
        r.exitCode,
      );
    }
    if (r.exitCode !== 0) throw new CliError('launch: interrupted', r.exitCode);
  });
}
