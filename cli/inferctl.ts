/**
 * inferctl: the operator's view of the control plane.
 *   inferctl inspect <model.onnx> [--json] [--max-batch-size N]
 *   inferctl plan [--policy FILE] [--json]
 *   inferctl manifests [--policy FILE] [--gpu-class ID] [--models a,b]
 */
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
  plan: {
    summary: 'show what the control plane would change now to match the policy file and registry',
    load: async () => (await import('./plan')).planCommand,
  },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `Usage: inferctl <command> [options]\n\nCommands:\n${lines.join('\n')}\n`;
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    io.stderr.write(`inferctl: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  try {
    return await (await command.load())(rest, io);
  } catch (err) {
    io.stderr.write(`inferctl ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
