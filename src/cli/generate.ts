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
  const maxTokens = integerOption(values['max-tokens'], '--max-tokens', DEFAULT_MAX_TOKENS);
  const topK = integerOption(values['top-k'], '--top-k', 0);
  const seed = values.seed === undefined ? undefined : integerOption(values.seed, '--seed', 0);
  const temperature = numberOption(values.temperature, '--temperature', DEFAULT_TEMPERATURE);
  const topP = numberOption(values['top-p'], '--top-p', 1);
  const prompt = values.prompt ?? DEFAULT_PROMPT;

  const worker = await createWorker({ backend });
  try {
    const model = await worker.loadLanguageModel(values.model ?? undefined);
    const tokens = model.generate({ prompt, maxTokens, temperature, topK, topP, seed, unknown: flags.has('replace-unknown') ? 'replace' : 'error' });

    // The first token comes after every option and the prompt are checked, so errors print alone.
    let next = await tokens.next();
    process.stdout.write(prompt);
    while (!next.done) {
      process.stdout.write(next.value.text);
      next = await tokens.next();
    }
    // stdout may be a pipe, where writes finish later: end it before the stderr line.
    await new Promise<void>((resolve) => process.stdout.write('\n', () => resolve()));

    const result = next.value;
    console.error(
      `${result.tokens} tokens in ${result.generateSeconds.toFixed(2)} s: ${result.tokensPerSecond.toFixed(1)} tokens/s on ${result.backend} ` +
        `(prompt of ${result.promptTokens} tokens in ${result.promptSeconds.toFixed(2)} s, seed ${result.seed})`,
    );
    model.dispose();
  } finally {
    await worker.terminate();
  }
}

function integerOption(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) throw new OmninetError('INVALID_ARGUMENT', `${name} ${text} is not a whole number ≥ 0`);
  return value;
}

function numberOption(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) throw new OmninetError('INVALID_ARGUMENT', `${name} ${text} is not a number`);
  return value;
}
