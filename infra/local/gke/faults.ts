/**
 * Faults with meaning, beyond the HTTP-level ones of `../common/server.ts`: zones that run out of
 * machines (stockouts) and operations that take longer or end with an error. Both are plain state
 * the cluster consults when it starts or finishes an operation; nothing here does I/O.
 */
import { OperationType } from './model';

export type OperationTypeName = Exclude<keyof typeof OperationType, 'TYPE_UNSPECIFIED'>;

/**
 * How many nodes a zone can hold. `available` is the most nodes of `machineType` (of any machine
 * type when unset) that may run in `zone` across all pools; `stockout: true` means 0. Nodes already
 * running above the limit keep running, as on Compute Engine, where a stockout only refuses new VMs.
 * `spot` is the provisioning model the rule limits, as Compute Engine keeps Spot and on-demand
 * capacity apart: `true` counts and limits only Spot (and preemptible) VMs, `false` only on-demand
 * ones, unset every VM.
 */
export interface CapacityRule {
  zone: string;
  machineType?: string;
  spot?: boolean;
  available?: number;
  stockout?: boolean;
}

export interface CapacityControl {
  /** Adds the rule, replacing one for the same zone and machine type. */
  set(rule: CapacityRule): void;
  /** Drops every rule (or those of one zone). */
  clear(zone?: string): void;
  list(): CapacityRule[];
}

export class Capacity implements CapacityControl {
  #rules: CapacityRule[] = [];
  readonly #onChange: () => void;

  /** `onChange` runs after every rule change (the cluster retries pools a stockout left short). */
  constructor(onChange: () => void = () => {}) {
    this.#onChange = onChange;
  }

  set(rule: CapacityRule): void {
    const problems = capacityRuleProblems(rule);
    if (problems.length > 0) throw new Error(`invalid capacity rule: ${problems.join(' ')}`);
    this.#rules = this.#rules.filter(
      (r) => !(r.zone === rule.zone && r.machineType === rule.machineType && r.spot === rule.spot),
    );
    this.#rules.push({ ...rule });
    this.#onChange();
  }

  clear(zone?: string): void {
    this.#rules = zone === undefined ? [] : this.#rules.filter((r) => r.zone !== zone);
    this.#onChange();
  }

  list(): CapacityRule[] {
    return this.#rules.map((r) => ({ ...r }));
  }

  /**
   * The rules that limit `machineType` VMs of that provisioning model (`spot`) in `zone`, each
   * with its limit, the machine type and the provisioning model it counts (none: every one counts).
   */
  limitsFor(
    zone: string,
    machineType: string,
    spot = false,
  ): { limit: number; machineType?: string; spot?: boolean }[] {
    return this.#rules
      .filter(
        (r) =>
          r.zone === zone &&
          (r.machineType === undefined || r.machineType === machineType) &&
          (r.spot === undefined || r.spot === spot),
      )
      .map((r) => ({
        limit: r.stockout ? 0 : (r.available ?? Number.POSITIVE_INFINITY),
        ...(r.machineType === undefined ? {} : { machineType: r.machineType }),
        ...(r.spot === undefined ? {} : { spot: r.spot }),
      }));
  }
}

export function capacityRuleProblems(rule: unknown): string[] {
  if (typeof rule !== 'object' || rule === null)
    return ['a rule is an object {zone, machineType?, spot?, available?, stockout?}.'];
  const r = rule as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof r.zone !== 'string' || r.zone === '') problems.push('zone must be a non-empty string.');
  if (r.machineType !== undefined && typeof r.machineType !== 'string')
    problems.push('machineType must be a string.');
  if (r.spot !== undefined && typeof r.spot !== 'boolean') problems.push('spot must be a boolean.');
  if (r.available !== undefined && !(Number.isInteger(r.available) && (r.available as number) >= 0)) {
    problems.push('available must be an integer >= 0.');
  }
  if (r.stockout !== undefined && typeof r.stockout !== 'boolean')
    problems.push('stockout must be a boolean.');
  if (r.available === undefined && r.stockout !== true) problems.push('set available or stockout: true.');
  return problems;
}

/** Operations that start from now on take `phaseMs` per phase (PENDING, RUNNING). */
export interface SlowOperations {
  phaseMs: number;
  /** Only operations of this type (all when unset). */
  operationType?: OperationTypeName;
  /** Only the next N matching operations (all when unset). */
  next?: number;
}

/**
 * Operations that end DONE with an error instead of applying their change (which is rolled back,
 * as on cancel). The default is a retryable one: code 14 UNAVAILABLE.
 */
export interface FailingOperations {
  /** How many of the next matching operations fail. */
  next: number;
  operationType?: OperationTypeName;
  /** A google.rpc.Code (default 14 UNAVAILABLE). */
  code?: number;
  message?: string;
}

export interface OperationFaultConfig {
  slow?: SlowOperations;
  fail?: FailingOperations;
}

export interface OperationFaultControl {
  set(config: OperationFaultConfig): void;
  clear(): void;
  readonly config: Readonly<OperationFaultConfig>;
}

export const DEFAULT_FAILURE = {
  code: 14,
  message: 'The service is currently unavailable. Please try again later.',
} as const;

export class OperationFaults implements OperationFaultControl {
  #config: OperationFaultConfig = {};

  get config(): Readonly<OperationFaultConfig> {
    return this.#config;
  }

  set(config: OperationFaultConfig): void {
    const problems = operationFaultProblems(config);
    if (problems.length > 0) throw new Error(`invalid operation faults: ${problems.join(' ')}`);
    this.#config = structuredClone(config);
  }

  clear(): void {
    this.#config = {};
  }

  /** Decides, once per started operation, its phase length and whether it fails. */
  take(
    operationType: number,
    defaultPhaseMs: number,
  ): { phaseMs: number; error?: { code: number; message: string } } {
    const { slow, fail } = this.#config;
    let phaseMs = defaultPhaseMs;
    if (slow && matches(slow.operationType, operationType) && (slow.next === undefined || slow.next > 0)) {
      phaseMs = slow.phaseMs;
      if (slow.next !== undefined) slow.next -= 1;
    }
    if (fail && fail.next > 0 && matches(fail.operationType, operationType)) {
      fail.next -= 1;
      return {
        phaseMs,
        error: { code: fail.code ?? DEFAULT_FAILURE.code, message: fail.message ?? DEFAULT_FAILURE.message },
      };
    }
    return { phaseMs };
  }
}

function matches(name: OperationTypeName | undefined, operationType: number): boolean {
  return name === undefined || OperationType[name] === operationType;
}

export function operationFaultProblems(config: unknown): string[] {
  if (typeof config !== 'object' || config === null) return ['the body is an object {slow?, fail?}.'];
  const c = config as Record<string, unknown>;
  const problems: string[] = [];
  const typeOk = (t: unknown) =>
    t === undefined || (typeof t === 'string' && t in OperationType && t !== 'TYPE_UNSPECIFIED');
  const count = (n: unknown) => Number.isInteger(n) && (n as number) >= 0;
  if (c.slow !== undefined) {
    const s = c.slow as Record<string, unknown>;
    if (typeof s !== 'object' || s === null || !count(s.phaseMs))
      problems.push('slow.phaseMs must be an integer >= 0.');
    else {
      if (!typeOk(s.operationType))
        problems.push(`slow.operationType ${String(s.operationType)} is not an operation type.`);
      if (s.next !== undefined && !count(s.next)) problems.push('slow.next must be an integer >= 0.');
    }
  }
  if (c.fail !== undefined) {
    const f = c.fail as Record<string, unknown>;
    if (typeof f !== 'object' || f === null || !count(f.next))
      problems.push('fail.next must be an integer >= 0.');
    else {
      if (!typeOk(f.operationType))
        problems.push(`fail.operationType ${String(f.operationType)} is not an operation type.`);
      if (
        f.code !== undefined &&
        !(Number.isInteger(f.code) && (f.code as number) > 0 && (f.code as number) <= 16)
      ) {
        problems.push('fail.code must be a google.rpc.Code from 1 to 16.');
      }
      if (f.message !== undefined && typeof f.message !== 'string')
        problems.push('fail.message must be a string.');
    }
  }
  return problems;
}
