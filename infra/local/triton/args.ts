/**
 * Triton's command line, as a container's `args` carry it (`tritonserver --model-repository=...`).
 * Flags take `--flag=value` or `--flag value`; flags the local Triton does not model are kept in
 * `ignored` and otherwise have no effect. Defaults are Triton's: model control `none`, strict
 * readiness on, exit on error on, metrics on.
 */
import type { RestrictedApi } from './server';

export interface TritonArgs {
  repository?: string;
  modelControl: 'none' | 'poll' | 'explicit';
  /** `--load-model` names (`*` means the whole repository). */
  loadModels: string[];
  strictReadiness: boolean;
  exitOnError: boolean;
  allowMetrics: boolean;
  httpRestricted: RestrictedApi[];
  grpcRestricted: RestrictedApi[];
  httpPort?: number;
  metricsPort?: number;
  autoCompleteConfig: boolean;
  ignored: string[];
}

export class TritonArgsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TritonArgsError';
  }
}

const VALUE_FLAGS = new Set([
  'model-repository',
  'model-store',
  'model-control-mode',
  'load-model',
  'strict-readiness',
  'exit-on-error',
  'allow-metrics',
  'allow-gpu-metrics',
  'http-restricted-api',
  'grpc-restricted-protocol',
  'http-port',
  'grpc-port',
  'metrics-port',
  'strict-model-config',
  'disable-auto-complete-config',
  'repository-poll-secs',
  'log-verbose',
  'backend-config',
  'model-load-thread-count',
]);

/** Flags that may stand alone (`--disable-auto-complete-config`). */
const BARE_FLAGS = new Set(['disable-auto-complete-config']);

function bool(flag: string, value: string): boolean {
  if (/^(true|1|on|yes)$/i.test(value)) return true;
  if (/^(false|0|off|no)$/i.test(value)) return false;
  throw new TritonArgsError(`invalid value for --${flag}: '${value}'`);
}

function restriction(flag: string, value: string): RestrictedApi[] {
  const colon = value.indexOf(':');
  const eq = value.indexOf('=', colon + 1);
  if (colon <= 0 || eq <= colon + 1) {
    throw new TritonArgsError(`--${flag} expects <API>[,<API>...]:<key>=<value>, got '${value}'`);
  }
  const header = value.slice(colon + 1, eq);
  const key = value.slice(eq + 1);
  return value
    .slice(0, colon)
    .split(',')
    .map((category) => ({ category: category.trim(), header, value: key }));
}

export function parseTritonArgs(args: readonly string[]): TritonArgs {
  const out: TritonArgs = {
    modelControl: 'none',
    loadModels: [],
    strictReadiness: true,
    exitOnError: true,
    allowMetrics: true,
    httpRestricted: [],
    grpcRestricted: [],
    autoCompleteConfig: true,
    ignored: [],
  };
  const list = [...args];
  if (list[0] !== undefined && !list[0].startsWith('-')) list.shift(); // the program name
  for (let i = 0; i < list.length; i++) {
    const arg = list[i]!;
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/s.exec(arg);
    if (!m) {
      out.ignored.push(arg);
      continue;
    }
    const flag = m[1]!;
    let value = m[2];
    if (value === undefined && VALUE_FLAGS.has(flag) && !BARE_FLAGS.has(flag)) {
      const next = list[i + 1];
      if (next === undefined || next.startsWith('--'))
        throw new TritonArgsError(`option '--${flag}' requires an argument`);
      value = next;
      i += 1;
    }
    const v = value ?? 'true';
    switch (flag) {
      case 'model-repository':
      case 'model-store':
        out.repository = v;
        break;
      case 'model-control-mode':
        if (v !== 'none' && v !== 'poll' && v !== 'explicit') {
          throw new TritonArgsError(`invalid value for --model-control-mode: '${v}'`);
        }
        out.modelControl = v;
        break;
      case 'load-model':
        out.loadModels.push(v);
        break;
      case 'strict-readiness':
        out.strictReadiness = bool(flag, v);
        break;
      case 'exit-on-error':
        out.exitOnError = bool(flag, v);
        break;
      case 'allow-metrics':
        out.allowMetrics = bool(flag, v);
        break;
      case 'disable-auto-complete-config':
        out.autoCompleteConfig = !bool(flag, v);
        break;
      case 'http-restricted-api':
        out.httpRestricted.push(...restriction(flag, v));
        break;
      case 'grpc-restricted-protocol':
        out.grpcRestricted.push(...restriction(flag, v));
        break;
      case 'http-port':
        out.httpPort = Number(v);
        break;
      case 'metrics-port':
        out.metricsPort = Number(v);
        break;
      default:
        out.ignored.push(arg);
    }
  }
  for (const group of [out.httpRestricted, out.grpcRestricted]) {
    const seen = new Set<string>();
    for (const r of group) {
      if (seen.has(r.category)) {
        throw new TritonArgsError(`api '${r.category}' can not be specified in multiple config groups`);
      }
      seen.add(r.category);
    }
  }
  if (!out.repository) throw new TritonArgsError('--model-repository must be specified');
  if (out.loadModels.length > 0 && out.modelControl !== 'explicit') {
    throw new TritonArgsError(
      "Use of '--load-model' requires setting '--model-control-mode=explicit' as well.",
    );
  }
  return out;
}
