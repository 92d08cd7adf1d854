/**
 * The one executor: every mutation the control plane makes is an action of a `Plan`, checked
 * against the guardrails, and run here, in order, by the runner of its kind.
 *
 * Each action carries its precondition (`before`: the state it was planned against). Before an
 * action runs, its runner compares live state with it:
 * - `done`: live state already is the action's `after` (a redelivery after a crash, a concurrent
 *   instance that got there first): skipped, logged;
 * - `ready`: live state still is `before`: the action runs, its write conditional on that state
 *   where the API allows it (generation and resourceVersion preconditions);
 * - `stale`: live state is neither (someone else's change): the executor stops, asks the caller
 *   to observe and plan again, checks the new plan against the guardrails, logs it, and continues
 *   with it. A write refused by its precondition (`StaleStateError`) is handled the same way.
 * Re-plans are bounded (`maxReplans`); past the bound the event is retried later.
 *
 * Dry-run never reaches this file: the plan itself is what a dry run prints, and it is exactly
 * the list of actions `execute` runs.
 */

import type { SecretValues } from '../cluster/objects';
import type { Plan, PlanAction, PlanActionKind } from '../domain/plan';
import { errorMessage, PermanentError, RetryableError } from '../runtime/errors';
import type { Logger } from '../runtime/log';

export type Precondition =
  | { state: 'ready' }
  | { state: 'done'; reason: string }
  | { state: 'stale'; reason: string };

/** State shared by the runners during one execution (not across executions). */
export interface RunState {
  /** Values of redacted Secret fields, by placeholder (never logged, never in a plan). */
  readonly secrets: SecretValues;
  /** Generations this execution wrote, by `gs://bucket/name`: a later action on the same object expects them. */
  readonly written: Map<string, string>;
}

export interface ActionRunner<A extends PlanAction = PlanAction> {
  readonly kinds: readonly A['kind'][];
  check(action: A, run: RunState): Promise<Precondition>;
  /** Runs the action; what it returns (an operation, say) is kept on the step as `detail`. */
  apply(action: A, run: RunState): Promise<unknown>;
  /**
   * Called once with all of this runner's actions before the plan's first write, so a rejection
   * (an apiserver 422, say) stops the plan before anything changed.
   */
  validate?(actions: readonly A[], run: RunState): Promise<void>;
  /** Consecutive actions of this runner run concurrently (loads on the pods of one pool). */
  readonly concurrent?: boolean;
}

/** A write refused because live state changed since the plan: the executor re-plans. */
export class StaleStateError extends RetryableError {
  override name = 'StaleStateError';
}

export interface ActionFailure {
  index: number;
  action: PlanAction;
  error: PermanentError;
}

export interface ExecutedStep {
  index: number;
  action: PlanAction;
  outcome: 'applied' | 'skipped';
  reason?: string;
  /** What the runner reported for an applied action (e.g. the GKE operation and its polls). */
  detail?: unknown;
}

/**
 * Actions refused for good (a model Triton cannot load): the plan stopped. `steps` are the
 * actions that ran before and alongside the failed ones, so the caller can plan a rollback.
 */
export class ActionsFailedError extends PermanentError {
  override name = 'ActionsFailedError';
  constructor(
    readonly failures: readonly ActionFailure[],
    readonly steps: readonly ExecutedStep[],
    readonly plan: Plan,
  ) {
    const first = failures[0];
    super(
      first?.error.reason ?? 'ACTION_FAILED',
      failures.map((f) => `${f.action.kind} ${f.action.target}: ${f.error.message}`).join('; '),
      {
        cause: first?.error,
        details: { failed: failures.map((f) => ({ kind: f.action.kind, target: f.action.target })) },
      },
    );
  }
}

export interface ExecuteOptions {
  /** Observes live state again and plans anew; without it a stale precondition is retried later. */
  replan?: (why: string) => Promise<Plan>;
  /** Throws (a PermanentError) when a plan exceeds a guardrail; run on the plan and every re-plan. */
  guardrails: (plan: Plan) => void;
  secrets?: SecretValues;
  maxReplans?: number;
  /**
   * Called before each action is checked: a throw stops the plan there (a deploy asserts it still
   * holds its leases). Not a runner: it changes nothing.
   */
  beforeAction?: (action: PlanAction, index: number) => void | Promise<void>;
  /** Called after each action ran or was skipped (tests kill the process here, step by step). */
  afterAction?: (step: ExecutedStep) => void | Promise<void>;
}

type StepHooks = Pick<ExecuteOptions, 'beforeAction' | 'afterAction'>;

export interface ExecutionResult {
  /** The plan that ran to its end (the last re-plan, if any). */
  plan: Plan;
  steps: ExecutedStep[];
  replans: number;
}

export const DEFAULT_MAX_REPLANS = 3;

class Replan extends Error {
  constructor(readonly why: string) {
    super(why);
  }
}

export class PlanExecutor {
  readonly #runners = new Map<PlanActionKind, ActionRunner>();
  readonly #log: Logger;

  constructor(runners: readonly ActionRunner[], log: Logger) {
    for (const runner of runners) {
      for (const kind of runner.kinds) this.#runners.set(kind, runner);
    }
    this.#log = log;
  }

  async execute(initial: Plan, options: ExecuteOptions): Promise<ExecutionResult> {
    const run: RunState = { secrets: options.secrets ?? new Map(), written: new Map() };
    const maxReplans = options.maxReplans ?? DEFAULT_MAX_REPLANS;
    let plan = initial;
    let replans = 0;
    options.guardrails(plan);
    for (;;) {
      try {
        const steps = await this.#run(plan, run, options);
        return { plan, steps, replans };
      } catch (err) {
        const why = err instanceof Replan ? err.why : undefined;
        if (why === undefined) throw err;
        if (!options.replan || replans >= maxReplans) {
          throw new RetryableError(
            'PLAN_STALE',
            `live state changed while applying the plan (${why}); gave up after ${replans} re-plan(s)`,
            { details: { planId: plan.id, replans, why } },
          );
        }
        replans += 1;
        const next = await options.replan(why);
        options.guardrails(next);
        // The new plan was made from live state, our own writes included: its `before`s stand.
        run.written.clear();
        this.#log.notice('plan re-planned', {
          planId: plan.id,
          replan: replans,
          reason: why,
          actionsBefore: plan.actions.length,
          actionsAfter: next.actions.length,
          plan: next,
        });
        plan = next;
      }
    }
  }

  #runnerOf(action: PlanAction): ActionRunner {
    const runner = this.#runners.get(action.kind);
    if (!runner) {
      throw new PermanentError('NO_RUNNER', `no runner for plan action ${action.kind} (${action.target})`);
    }
    return runner;
  }

  async #run(plan: Plan, run: RunState, hooks: StepHooks): Promise<ExecutedStep[]> {
    // Validate everything first: no write happens for a plan some part of which is refused.
    const byRunner = new Map<ActionRunner, PlanAction[]>();
    for (const action of plan.actions) {
      const runner = this.#runnerOf(action);
      byRunner.set(runner, [...(byRunner.get(runner) ?? []), action]);
    }
    for (const [runner, actions] of byRunner) await runner.validate?.(actions, run);

    const steps: ExecutedStep[] = [];
    const actions = plan.actions;
    if (actions.length === 0) {
      this.#log.info('plan has nothing to do: live state already matches', {
        planId: plan.id,
        reason: plan.reason,
      });
    }
    for (let i = 0; i < actions.length; ) {
      const runner = this.#runnerOf(actions[i] as PlanAction);
      let end = i + 1;
      if (runner.concurrent) {
        while (end < actions.length && this.#runnerOf(actions[end] as PlanAction) === runner) end += 1;
      }
      const group = actions.slice(i, end).map((action, k) => ({ action, index: i + k }));
      const settled = await Promise.allSettled(
        group.map((g) => this.#step(runner, g.action, g.index, run, hooks)),
      );
      const failures: ActionFailure[] = [];
      let other: unknown;
      settled.forEach((r, k) => {
        const g = group[k] as (typeof group)[number];
        if (r.status === 'fulfilled') steps.push(r.value);
        else if (r.reason instanceof Replan) other ??= r.reason;
        else if (r.reason instanceof PermanentError)
          failures.push({ index: g.index, action: g.action, error: r.reason });
        else other ??= r.reason;
      });
      if (failures.length > 0) throw new ActionsFailedError(failures, steps, plan);
      if (other !== undefined) throw other;
      i = end;
    }
    return steps;
  }

  async #step(
    runner: ActionRunner,
    action: PlanAction,
    index: number,
    run: RunState,
    hooks: StepHooks,
  ): Promise<ExecutedStep> {
    await hooks.beforeAction?.(action, index);
    const step = await this.#checkAndApply(runner, action, index, run);
    await hooks.afterAction?.(step);
    return step;
  }

  async #checkAndApply(
    runner: ActionRunner,
    action: PlanAction,
    index: number,
    run: RunState,
  ): Promise<ExecutedStep> {
    const pre = await runner.check(action, run);
    if (pre.state === 'done') {
      this.#log.info('plan action skipped', {
        index,
        kind: action.kind,
        target: action.target,
        reason: pre.reason,
      });
      return { index, action, outcome: 'skipped', reason: pre.reason };
    }
    if (pre.state === 'stale') throw new Replan(`${action.kind} ${action.target}: ${pre.reason}`);
    let detail: unknown;
    try {
      detail = await runner.apply(action, run);
    } catch (err) {
      if (err instanceof StaleStateError)
        throw new Replan(`${action.kind} ${action.target}: ${errorMessage(err)}`);
      throw err;
    }
    this.#log.info('plan action applied', {
      index,
      kind: action.kind,
      target: action.target,
      reason: action.reason,
      costDeltaPerHour: action.costDeltaPerHour,
    });
    return { index, action, outcome: 'applied', ...(detail === undefined ? {} : { detail }) };
  }
}
