// Every artifact a Noisy Student run or stage command writes is a JSON record with a format tag
// (`noisy-student/<kind>@<version>`) and the environment it was made in. Reading checks the tag:
// a file written before tags existed, or by a newer version, is refused with what to do, never
// silently reused or retrained.
import { existsSync, readFileSync } from 'node:fs';
import { atomicWriteJson } from '../../util/atomic_write.js';
import { environmentInfo, type EnvironmentInfo } from '../../torch/index.js';
import { packageVersion } from './package_version.js';

export const ARTIFACT_VERSIONS = {
  'pseudo-label-manifest': 1,
  'pseudo-label-index': 1,
  selection: 1,
  'filter-stats': 1,
  'stage-record': 1,
  summary: 1,
  seeds: 1,
} as const;

export type ArtifactKind = keyof typeof ARTIFACT_VERSIONS;

export const formatTag = (kind: ArtifactKind): string => `noisy-student/${kind}@${ARTIFACT_VERSIONS[kind]}`;

export class ArtifactFormatError extends Error {
  readonly code = 'E_ARTIFACT_FORMAT';
  constructor(message: string) {
    super(message);
    this.name = 'ArtifactFormatError';
  }
}

export interface Environment extends EnvironmentInfo {
  readonly package: string;
  readonly onnxruntime: string | null;
  readonly backend: string;
  readonly precision: string;
}

/** The environment a record is made in (what could explain a difference between two runs' numbers). */
export function environment(o: { backend?: string; precision?: string; onnxruntime?: string | null } = {}): Environment {
  return {
    package: `noisy-student@${packageVersion()}`,
    ...environmentInfo(),
    onnxruntime: o.onnxruntime ?? null,
    backend: o.backend ?? 'torch',
    precision: o.precision ?? 'fp32',
  };
}

/** Write `body` as a `kind` record, atomically, with its format tag and environment. */
export function writeArtifact(path: string, kind: ArtifactKind, body: object, env: Environment = environment()): void {
  atomicWriteJson(path, { format: formatTag(kind), ...body, environment: env });
}

/**
 * Read a `kind` record. `whatToDo` completes the message for a file of another format (e.g. "run
 * the same command into a new output folder").
 */
export function readArtifact<T>(path: string, kind: ArtifactKind, whatToDo: string): T & { format: string; environment: Environment } {
  if (!existsSync(path)) throw new ArtifactFormatError(`${path} is missing`);
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ArtifactFormatError(`${path} is not valid JSON (${(e as Error).message})`);
  }
  const tag = (v as { format?: unknown } | null)?.format;
  if (tag !== formatTag(kind)) {
    const what =
      typeof tag === 'string' && tag.startsWith(`noisy-student/${kind}@`)
        ? `format ${tag}, this version reads ${formatTag(kind)}`
        : 'an older format (written before artifacts had format versions)';
    throw new ArtifactFormatError(`${path} has ${what}: ${whatToDo}`);
  }
  return v as T & { format: string; environment: Environment };
}
