import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/omninet.js', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./data/fixtures/omninet-causal-omni-01.safetensors', import.meta.url));

/** Runs `omninet generate …` as a user would. */
function generate(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [BIN, 'generate', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function expectUsageError(result: ReturnType<typeof generate>, pattern: RegExp): void {
  expect(result.status, result.stderr).toBe(2);
  expect(result.stderr.trimEnd().split('\n'), result.stderr).toHaveLength(1);
  expect(result.stderr).toMatch(/^omninet: /);
  expect(result.stderr).toMatch(pattern);
  expect(result.stdout).toBe('');
}

describe('omninet generate', () => {
  it('streams text from the embedded model and ends with its speed on stderr', () => {
    const result = generate('--seed', '1', '--max-tokens', '60', '--backend', 'wasm');
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout.startsWith('And God said')).toBe(true);
    expect(result.stdout).toHaveLength('And God said'.length + 60 + 1);
    expect(result.stderr).toMatch(/^60 tokens in [\d.]+ s: [\d.]+ tokens\/s on wasm \(prompt of 12 tokens read in [\d.]+ s, seed 1\)\n$/);
  });

  it('stops quietly when the reader closes the pipe', () => {
    const result = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" generate --seed 1 --max-tokens 2000 | head -c 20`], { encoding: 'utf8', timeout: 120_000 });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toBe('And God said unto hi');
    expect(result.stderr).toBe('');
  });

  it('says how much of a long prompt it read', () => {
    const result = generate('--prompt', 'And it came to pass '.repeat(20), '--max-tokens', '5', '--seed', '1');
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/prompt of 400 tokens, the last 128 read in/);
  });

  it('prints the same text for the same seed and prompt', () => {
    const a = generate('--seed', '4', '--max-tokens', '40', '--prompt', 'The LORD is', '--top-k', '10', '--top-p', '0.9');
    const b = generate('--seed', '4', '--max-tokens', '40', '--prompt', 'The LORD is', '--top-k', '10', '--top-p', '0.9');
    expect(a.status, a.stderr).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout.startsWith('The LORD is')).toBe(true);
  });

  it('names an unknown prompt character and the option that replaces it', () => {
    expectUsageError(generate('--prompt', 'Zeus™', '--max-tokens', '5'), /character "™" \(U\+2122\) at position 4 of the prompt is not in the model's vocabulary.*--replace-unknown/);
    const replaced = generate('--prompt', 'Zeus™', '--max-tokens', '5', '--replace-unknown', '--seed', '1');
    expect(replaced.status, replaced.stderr).toBe(0);
    expect(replaced.stdout.startsWith('Zeus ')).toBe(true);
  });

  it('rejects bad numbers, backends and models with the value and the fix', () => {
    expectUsageError(generate('--max-tokens', 'ten'), /--max-tokens ten must be a whole number from 1 to 1000000/);
    expectUsageError(generate('--max-tokens', '0'), /--max-tokens 0 must be a whole number from 1 to 1000000/);
    expectUsageError(generate('--temperature', 'hot'), /--temperature hot is not a number/);
    expectUsageError(generate('--temperature=-2'), /--temperature -2 must be ≥ 0/);
    expectUsageError(generate('--top-p', '1.5'), /--top-p 1.5 must be greater than 0 and at most 1/);
    expectUsageError(generate('--seed=-1'), /--seed -1 must be a whole number from 0 to 4294967295/);
    expectUsageError(generate('--seed', '-1'), /the value after --seed starts with "-".*--seed=VALUE/);
    expectUsageError(generate('--prompt', '- and he said'), /the value after --prompt starts with "-".*--prompt=VALUE/);
    expectUsageError(generate('--backend', 'cuda'), /--backend cuda is not one of auto, webgpu, wasm, js/);
    expectUsageError(generate('--model', '/nonexistent/model.safetensors'), /cannot read model \/nonexistent\/model.safetensors: file not found/);
    expectUsageError(generate('--model', FIXTURE), /has no __metadata__.language_model.*loadModel\(\)/);
    expectUsageError(generate('model.safetensors'), /generate takes no positional arguments.*--model FILE/);
  });
});
