// The distributed layer: c10d process groups for our tensors, the launchers' variables, and the
// data-parallel pieces built on them. Imports `torch` and `nn` only.
export { detectDistEnv, isWriterRank, firstSlurmHost, DEFAULT_MASTER_PORT, type DistEnv, type LauncherKind } from './env.js';
export {
  ProcessGroup,
  initProcessGroupFromEnv,
  defaultTimeoutMs,
  threadsPerRank,
  type Backend,
  type InitProcessGroupOptions,
} from './process_group.js';
export { distributedAvailable, distributedNative, type ReduceOpName } from './native.js';
export { launch, launchDefaults, validateLaunch, rankEnv, type LaunchOptions, type LaunchResult, type RankExit } from './launch.js';
