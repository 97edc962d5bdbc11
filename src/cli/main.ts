import { parseArgs } from 'node:util';
import { OmninetError } from '../errors.js';
import { runForward } from './forward.js';
import { runInfo } from './info.js';

const USAGE = `Usage:
  omninet forward MODEL.safetensors --input X.npy [--mask M.npy] --output Y.npy [--backend auto|wasm|js]
  omninet info [MODEL.safetensors]
  omninet --help | --version

forward  runs a checkpoint on a float32 .npy input of shape (batch, seq, dim) or (seq, dim),
         with an optional uint8/bool mask (batch, seq) or (seq), and writes float32 .npy.
info     prints the runtime, its WebAssembly features and the backends; with MODEL, its config.`;

/** Exit codes: 0 success, 1 failure while running, 2 bad usage or bad input files. */
export const EXIT_USAGE = 2;

/** Runs the `omninet` command and returns its exit code; errors print one line on stderr. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  try {
    switch (command) {
      case 'forward':
        await runForward(parse(rest, { input: 'string', mask: 'string', output: 'string', backend: 'string' }));
        return 0;
      case 'info':
        await runInfo(parse(rest, {}));
        return 0;
      case '--version':
      case '-v':
        console.log(await packageVersion());
        return 0;
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        console.log(USAGE);
        return command === undefined ? EXIT_USAGE : 0;
      default:
        throw new OmninetError('INVALID_ARGUMENT', `unknown command "${command}"; expected forward or info (see omninet --help)`);
    }
  } catch (error) {
    return reportError(error);
  }
}

export interface ParsedArgs {
  positionals: string[];
  values: Record<string, string | undefined>;
}

function parse(args: string[], options: Record<string, 'string'>): ParsedArgs {
  try {
    const { positionals, values } = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: Object.fromEntries(Object.entries(options).map(([name, type]) => [name, { type }])),
    });
    return { positionals, values: values as Record<string, string | undefined> };
  } catch (error) {
    const option = /option '([^']+)'/.exec((error as Error).message)?.[1];
    const reason = option ? `unknown option ${option}` : (error as Error).message.split('\n')[0];
    throw new OmninetError('INVALID_ARGUMENT', `${reason}; see omninet --help`);
  }
}

function reportError(error: unknown): number {
  if (error instanceof OmninetError) {
    console.error(`omninet: ${error.message}`);
    return error.code === 'INVALID_ARGUMENT' || error.code === 'INVALID_NPY' || error.code === 'INVALID_CHECKPOINT' || error.code === 'SHAPE_MISMATCH' || error.code === 'IO_ERROR' ? EXIT_USAGE : 1;
  }
  const message = error instanceof Error ? error.message : String(error);
  console.error(`omninet: internal error: ${message.split('\n')[0]} (set OMNINET_DEBUG=1 for the stack trace)`);
  if (process.env.OMNINET_DEBUG) console.error(error);
  return 1;
}

export async function packageVersion(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const json = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return json.version;
}
