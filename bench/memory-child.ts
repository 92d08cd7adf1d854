/**
 * Runs one memory case in this fresh process and prints `{ bytesRead, peakRssBytes }` as JSON on
 * stdout. Usage: node --import tsx bench/memory-child.ts <case name> <context JSON>
 */
import { readFileSync } from 'node:fs';
import { type MemoryCaseContext, memoryCases } from './memory-cases';

/** VmHWM (peak resident set) from /proc on Linux; the kernel's maxRSS elsewhere. */
function peakRssBytes(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // Not Linux: fall through.
  }
  return process.resourceUsage().maxRSS * 1024;
}

const [name = '', json = '{}'] = process.argv.slice(2);
const run = memoryCases[name];
if (run === undefined) throw new Error(`unknown memory case ${JSON.stringify(name)}`);
const ctx = JSON.parse(json) as MemoryCaseContext;
const { bytesRead } = await run(ctx);
process.stdout.write(`${JSON.stringify({ bytesRead, peakRssBytes: peakRssBytes() })}\n`);
process.exit(0);
