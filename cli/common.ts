/**
 * What the sandbox-driving commands share, kept light: importing it loads no cloud client.
 */
import { EXIT_FAILURE } from './args';
import type { CliIo } from './io';

export const PROJECT_OPTION = {
  type: 'string',
  value: 'PROJECT',
  expects: 'a Google Cloud project id',
  description: 'drive Google Cloud (Application Default Credentials, INFERPLANE_*) instead of the sandbox',
} as const;

/** Writes `{error}` on stdout for --json, the message on stderr; returns EXIT_FAILURE. */
export function fail(io: CliIo, command: string, json: boolean, err: unknown): number {
  const message = err instanceof Error ? err.message : String(err);
  if (json) io.stdout.write(`${JSON.stringify({ error: message }, null, 2)}\n`);
  io.stderr.write(`${command}: ${message}\n`);
  return EXIT_FAILURE;
}
