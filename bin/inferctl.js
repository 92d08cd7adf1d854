#!/usr/bin/env node
// inferctl: runs the TypeScript CLI through tsx's loader, so a clone needs no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/inferctl.ts');
process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
