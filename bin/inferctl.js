#!/usr/bin/env node
// inferctl: runs the TypeScript CLI through tsx's loader, so a clone needs no build step.
import { register } from 'tsx/esm/api';

register();
const { run } = await import('../cli/inferctl.ts');
await run();
