import { parseArgs } from 'node:util';
import { OmninetError } from '../errors.js';
import { EXIT_CODES, EXIT_INTERNAL, EXIT_USAGE } from './exit-codes.js';
import { runBench } from './bench.js';
import { runForward } from './forward.js';
import { runGenerate } from './generate.js';
import { runInfo } from './info.js';

const USAGE = `Usage:
  omninet generate [--prompt TEXT] [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S]
                   [--model MODEL.safetensors] [--backend auto|webgpu|wasm|js] [--replace-unknown]
  omninet forward MODEL.safetensors --input X.npy [--mask M.npy] --output Y.npy [--backend auto|webgpu|wasm|js] [--decode]
  omninet info [MODEL.safetensors]
  omninet bench [--backend js,wasm,webgpu] [--json FILE] [--ops] [--e2e] [--quick] [--tokens 512,1024]
  omninet --help | --version

generate streams text from a character-level language model, by default the embedded one
         (an omninet-causal-omni model trained on the King James Bible), running in a Worker.
         Defaults: prompt "And God said", 200 tokens, temperature 0.8 (0 = greedy), no top-k
         or top-p limit, a random seed. Ends with tokens per second and the backend on stderr.
         A prompt character outside the vocabulary is an error; --replace-unknown turns it
         into a space.
forward  runs a checkpoint on a float32 .npy input of shape (batch, seq, dim) or (seq, dim),
         with an optional uint8/bool mask (batch, seq) or (seq), and writes float32 .npy.
         --decode runs a causal model one position at a time from its caches, as generation
         does; the output is the same as without it (up to float32 rounding).
info     prints the runtime, its WebAssembly features and the backends; with MODEL, its config.
bench    times the ops (--ops) and whole forwards (--e2e) of the README model on each backend
         (default: both parts, every available backend), prints tables and with --json writes
         the result for \`npm run bench:report\`. --quick runs fewer sizes; --tokens sets the
         forwards' sequence lengths. The js backend, the float64 oracle, runs only sizes up to
         512 tokens (128 with --quick), and a software WebGPU adapter up to 1024 (512).`;

// Exit codes: 0 success, 1 internal error, 2 bad usage or input files, 3 and up by error code (see exit-codes.ts).
export { EXIT_USAGE } from './exit-codes.js';

/** Runs the `omninet` command and returns its exit code; errors print one line on stderr. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  try {
    switch (command) {
      case 'generate':
        await runGenerate(
          parse(rest, {
            model: 'string',
            prompt: 'string',
            'max-tokens': 'string',
            temperature: 'string',
            'top-k': 'string',
            'top-p': 'string',
            seed: 'string',
            backend: 'string',
            'replace-unknown': 'boolean',
          }),
        );
        return 0;
      case 'forward':
        await runForward(parse(rest, { input: 'string', mask: 'string', output: 'string', backend: 'string', decode: 'boolean' }));
        return 0;
      case 'info':
        await runInfo(parse(rest, {}));
        return 0;
      case 'bench':
        await runBench(parse(rest, { backend: 'string', json: 'string', tokens: 'string', ops: 'boolean', e2e: 'boolean', quick: 'boolean' }));
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
        throw new OmninetError('INVALID_ARGUMENT', `unknown command "${command}"; expected generate, forward, info or bench (see omninet --help)`);
    }
  } catch (error) {
    return reportError(error);
  }
}

export interface ParsedArgs {
  positionals: string[];
  values: Record<string, string | undefined>;
  /** Boolean options that were given. */
  flags: ReadonlySet<string>;
}

function parse(args: string[], options: Record<string, 'string' | 'boolean'>): ParsedArgs {
  try {
    const { positionals, values } = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: Object.fromEntries(Object.entries(options).map(([name, type]) => [name, { type }])),
    });
    const strings: Record<string, string | undefined> = {};
    const flags = new Set<string>();
    for (const [name, value] of Object.entries(values)) {
      if (value === true) flags.add(name);
      else if (typeof value === 'string') strings[name] = value;
    }
    return { positionals, values: strings, flags };
  } catch (error) {
    const message = (error as Error).message;
    // parseArgs reads a value that starts with "-" as a possible option: `--seed -1`, `--prompt "- text"`.
    const ambiguous = /Option '(--[^']+)' argument is ambiguous/.exec(message)?.[1];
    if (ambiguous) {
      throw new OmninetError('INVALID_ARGUMENT', `the value after ${ambiguous} starts with "-", so it reads as an option; write the option and its value as one argument: ${ambiguous}=VALUE`);
    }
    const option = /option '([^']+)'/.exec(message)?.[1];
    const reason = option ? `unknown option ${option}` : message.split('\n')[0].replace(/\.$/, '');
    throw new OmninetError('INVALID_ARGUMENT', `${reason}; see omninet --help`);
  }
}

function reportError(error: unknown): number {
  if (error instanceof OmninetError) {
    console.error(`omninet: ${error.message}`);
    return EXIT_CODES[error.code] ?? EXIT_INTERNAL;
  }
  const message = error instanceof Error ? error.message : String(error);
  console.error(`omninet: internal error: ${message.split('\n')[0]} (set OMNINET_DEBUG=1 for the stack trace)`);
  if (process.env.OMNINET_DEBUG) console.error(error);
  return EXIT_INTERNAL;
}

export async function packageVersion(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const json = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return json.version;
}
