/**
 * inferctl: the operator's view of the control plane.
 *   inferctl inspect <model.onnx> [--json] [--max-batch-size N] [--name NAME]
 *   inferctl plan [--policy FILE] [--json]
 *   inferctl manifests [--policy FILE] [--gpu-class ID] [--models a,b]
 *   inferctl status|tick|alert|upload|load|logs (see README's "Command line")
 *   inferctl schedule preview --from <ISO> --to <ISO> [--policy FILE] [--json]
 *   inferctl wake <target> --for <duration> | --until <ISO>
 *
 * `bin/inferctl.js` (npx inferctl, npm run inferctl) runs `main`; so does `tsx cli/inferctl.ts`.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './args';
import type { CliIo } from './io';

type Command = (args: string[], io: CliIo) => Promise<number>;

const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  inspect: {
    summary: 'read an ONNX model signature (without its weights) and print the generated config.pbtxt',
    load: async () => (await import('./inspect')).inspectCommand,
  },
  manifests: {
    summary: "print the Kubernetes objects of one GPU pool's Triton stack as YAML",
    load: async () => (await import('./manifests')).manifestsCommand,
  },
  alert: {
    summary: 'publish a Cloud Monitoring incident (schema 1.2) to the alerts topic: open or close',
    load: async () => (await import('./alert')).alertCommand,
  },
  load: {
    summary: "send inference load to a model on the sandbox's Triton",
    load: async () => (await import('./load')).loadCommand,
  },
  logs: {
    summary: "print the functions' log entries (--follow to keep printing)",
    load: async () => (await import('./logs')).logsCommand,
  },
  status: {
    summary: 'models, node pools, deployments, HPAs, network policies, decisions and savings',
    load: async () => (await import('./status')).statusCommand,
  },
  tick: {
    summary: 'publish one scheduler tick now (reconcile-schedules, or rotate-security)',
    load: async () => (await import('./tick')).tickCommand,
  },
  upload: {
    summary: 'upload a model to the incoming bucket as <model>/<version>/<file>',
    load: async () => (await import('./upload')).uploadCommand,
  },
  plan: {
    summary: 'show what the control plane would change now to match the policy file and registry',
    load: async () => (await import('./plan')).planCommand,
  },
  schedule: {
    summary: 'preview the transitions the schedules will make (schedule preview --from --to)',
    load: async () => (await import('./schedule')).scheduleCommand,
  },
  wake: {
    summary: "lift a target's scheduled downtime for a while (wake <target> --for 2h)",
    load: async () => (await import('./wake')).wakeCommand,
  },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return (
    `Usage: inferctl <command> [options]\n\nCommands:\n${lines.join('\n')}\n\n` +
    "Run 'inferctl <command> --help' for a command's options.\n" +
    'Exit status: 0 done, 1 failed, 2 usage error (plan: 3 the plan would be refused).\n'
  );
}

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(usage());
    return EXIT_OK;
  }
  if (name === undefined) {
    io.stderr.write(`inferctl: give a command\n\n${usage()}`);
    return EXIT_USAGE;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) {
    const hint = name.startsWith('-') ? 'options go after the command' : `unknown command '${name}'`;
    io.stderr.write(`inferctl: ${hint}\n\n${usage()}`);
    return EXIT_USAGE;
  }
  try {
    return await (await command.load())(rest, io);
  } catch (err) {
    io.stderr.write(`inferctl ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_FAILURE;
  }
}

/** Runs `main` on this process's arguments and sets its exit status. */
export async function run(): Promise<void> {
  process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
}

/** Whether this module is the program itself (`tsx cli/inferctl.ts`), not an import. */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) await run();
