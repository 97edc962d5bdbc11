import type { BackendPolicy } from '../dispatch/dispatcher.js';
import { OmninetError } from '../errors.js';
import { DEFAULT_MAX_TOKENS } from '../model/language-model/language-model.js';
import { DEFAULT_TEMPERATURE } from '../model/language-model/sampler.js';
import { createWorker } from '../runtime/client.js';
import type { ParsedArgs } from './main.js';

const BACKENDS: readonly BackendPolicy[] = ['auto', 'webgpu', 'wasm', 'js'];
const DEFAULT_PROMPT = 'And God said';

/**
 * `omninet generate [--model FILE] [--prompt TEXT] [--max-tokens N] [--temperature T] [--top-k K]
 * [--top-p P] [--seed S] [--backend …] [--replace-unknown]`: streams text to stdout from a
 * language model running in a Worker, then one line of speed on stderr.
 */
export async function runGenerate({ positionals, values, flags }: ParsedArgs): Promise<void> {
  if (positionals.length > 0) {
    throw new OmninetError('INVALID_ARGUMENT', `generate takes no positional arguments, got ${positionals.join(' ')}; pass the model with --model FILE`);
  }
  const backend = (values.backend ?? 'auto') as BackendPolicy;
  if (!BACKENDS.includes(backend)) throw new OmninetError('INVALID_ARGUMENT', `--backend ${values.backend} is not one of ${BACKENDS.join(', ')}`);
  const maxTokens = integerOption(values['max-tokens'], '--max-tokens', DEFAULT_MAX_TOKENS, 1, 1_000_000);
  const topK = integerOption(values['top-k'], '--top-k', 0, 0, Number.MAX_SAFE_INTEGER);
  const seed = values.seed === undefined ? undefined : integerOption(values.seed, '--seed', 0, 0, 2 ** 32 - 1);
  const temperature = numberOption(values.temperature, '--temperature', DEFAULT_TEMPERATURE);
  if (temperature < 0) throw new OmninetError('INVALID_ARGUMENT', `--temperature ${values.temperature} must be ≥ 0 (0 always picks the most likely character)`);
  const topP = numberOption(values['top-p'], '--top-p', 1);
  if (!(topP > 0 && topP <= 1)) throw new OmninetError('INVALID_ARGUMENT', `--top-p ${values['top-p']} must be greater than 0 and at most 1 (1 keeps every character)`);
  const prompt = values.prompt ?? DEFAULT_PROMPT;
  const unknown = flags.has('replace-unknown') ? 'replace' : 'error';

  // A reader that closes the pipe early (omninet generate | head) ends the run, not as an error.
  let pipeClosed = false;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    pipeClosed = true;
  });

  const worker = await createWorker({ backend });
  try {
    const model = await worker.loadLanguageModel(values.model ?? undefined);
    const tokens = model.generate({ prompt, maxTokens, temperature, topK, topP, seed, unknown });

    // The first token comes after every option and the prompt are checked, so errors print alone.
    // The echo shows the prompt as the model read it, with replaced characters.
    let next = await tokens.next();
    process.stdout.write(model.tokenizer.decode(model.tokenizer.encode(prompt, { unknown })));
    while (!next.done && !pipeClosed) {
      process.stdout.write(next.value.text);
      next = await tokens.next();
    }
    if (!next.done) {
      await tokens.return(undefined as never);
      return;
    }
    // stdout may be a pipe, where writes finish later: end it before the stderr line.
    await new Promise<void>((resolve) => process.stdout.write('\n', () => resolve()));

    const result = next.value;
    const read = Math.min(result.promptTokens, model.maxSeqLen);
    const promptRead = read < result.promptTokens ? `, the last ${read} read` : ' read';
    console.error(
      `${result.tokens} ${plural(result.tokens, 'token')} in ${result.generateSeconds.toFixed(2)} s: ${result.tokensPerSecond.toFixed(1)} tokens/s on ${result.backend} ` +
        `(prompt of ${result.promptTokens} ${plural(result.promptTokens, 'token')}${promptRead} in ${result.promptSeconds.toFixed(2)} s, seed ${result.seed})`,
    );
    model.dispose();
  } finally {
    await worker.terminate();
  }
}

function plural(count: number, noun: string): string {
  return count === 1 ? noun : `${noun}s`;
}

function integerOption(text: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new OmninetError('INVALID_ARGUMENT', `${name} ${text} must be a whole number from ${min} to ${max}`);
  }
  return value;
}

function numberOption(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) throw new OmninetError('INVALID_ARGUMENT', `${name} ${text} is not a number`);
  return value;
}
