/**
 * Triton's HTTP repository and health API (KServe v2 protocol), over fetch. Load errors have been
 * seen to surface as client timeouts, so callers poll readiness with a deadline rather than trust
 * the load call alone (`awaitModelReady`).
 */

import { type RepositoryIndexEntry, TritonLoadError, type TritonRepository } from '../ports/triton';
import { PermanentError, RetryableError } from '../runtime/errors';
import type { ModelConfig } from '../triton/model-config';

export class TritonHttpClient implements TritonRepository {
  readonly #base: string;
  readonly #headers: Record<string, string>;
  /** The restricted-API header value this client sends (undefined: none). */
  readonly adminKey: string | undefined;
  readonly #timeoutMs: number;

  /**
   * `restrictedApiHeader` is the header Triton's `--http-restricted-api=model-repository:K=V`
   * demands on repository calls, so only the control plane can load code into the server.
   */
  constructor(baseUrl: string, options: { restrictedApiHeader?: [string, string]; timeoutMs?: number } = {}) {
    this.#base = baseUrl.replace(/\/+$/, '');
    this.#headers = { 'content-type': 'application/json' };
    if (options.restrictedApiHeader)
      this.#headers[options.restrictedApiHeader[0]] = options.restrictedApiHeader[1];
    this.adminKey = options.restrictedApiHeader?.[1];
    this.#timeoutMs = options.timeoutMs ?? 120_000;
  }

  async #post(path: string, body: unknown): Promise<Response> {
    try {
      return await fetch(`${this.#base}${path}`, {
        method: 'POST',
        headers: this.#headers,
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      throw new RetryableError('TRITON_UNREACHABLE', `Triton at ${this.#base} did not answer ${path}`, {
        cause: err,
      });
    }
  }

  async load(model: string, config?: ModelConfig): Promise<void> {
    const body = config ? { parameters: { config: JSON.stringify(config) } } : {};
    const res = await this.#post(`/v2/repository/models/${encodeURIComponent(model)}/load`, body);
    if (res.ok) return;
    const text = await res.text();
    const message = errorText(text);
    // 429: a proxy or load balancer in front of Triton shedding load; retry later like a 5xx.
    if (res.status === 429 || (res.status >= 500 && res.status !== 501)) {
      // Triton answers UNAVAILABLE (503) while it cannot take the request at all; retry later.
      if (res.status === 503 && /not allowed if polling is enabled/.test(message)) {
        throw new PermanentError(
          'TRITON_MODEL_CONTROL_DISABLED',
          `Triton refuses to load models: ${message}`,
        );
      }
      throw new RetryableError('TRITON_UNAVAILABLE', `load of ${model}: HTTP ${res.status}: ${message}`);
    }
    throw new TritonLoadError('MODEL_LOAD_FAILED', `Triton could not load ${model}: ${message}`, {
      details: { httpStatus: res.status },
    });
  }

  async unload(model: string, options: { unloadDependents?: boolean } = {}): Promise<void> {
    const res = await this.#post(`/v2/repository/models/${encodeURIComponent(model)}/unload`, {
      parameters: { unload_dependents: options.unloadDependents ?? false },
    });
    if (!res.ok)
      throw new RetryableError('TRITON_UNLOAD_FAILED', `unload of ${model}: ${errorText(await res.text())}`);
  }

  async isModelReady(model: string, version?: number): Promise<boolean> {
    const path = `/v2/models/${encodeURIComponent(model)}${version === undefined ? '' : `/versions/${version}`}/ready`;
    try {
      const res = await fetch(`${this.#base}${path}`, { signal: AbortSignal.timeout(this.#timeoutMs) });
      await res.arrayBuffer();
      return res.status === 200;
    } catch (err) {
      throw new RetryableError('TRITON_UNREACHABLE', `Triton at ${this.#base} did not answer ${path}`, {
        cause: err,
      });
    }
  }

  async index(): Promise<RepositoryIndexEntry[]> {
    const res = await this.#post('/v2/repository/index', {});
    if (!res.ok) throw new RetryableError('TRITON_UNAVAILABLE', `repository index: HTTP ${res.status}`);
    return (await res.json()) as RepositoryIndexEntry[];
  }
}

function errorText(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed.error === 'string') return parsed.error;
  } catch {
    // not JSON
  }
  return body.slice(0, 500) || '(empty body)';
}
