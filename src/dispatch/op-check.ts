import { OmninetError } from '../errors.js';
import type { Tensor } from '../tensor.js';

/** Returns true when `OMNINET_DEBUG=1` is set in the environment (Node, Deno); browsers pass `debug: true` instead. */
export function debugFromEnvironment(): boolean {
  try {
    const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
    return env?.OMNINET_DEBUG === '1';
  } catch {
    // Deno without --allow-env throws on any read of the environment.
    return false;
  }
}

/**
 * Debug mode: reads an op's output back and raises at its first NaN or infinity, naming the op.
 * Inputs and weights are checked before the first op, so the first op that fails here is the
 * one that produced the value. A readback per op makes a GPU forward far slower.
 *
 * @throws OmninetError `NON_FINITE`
 */
export async function checkOpOutput(op: string, output: Tensor): Promise<void> {
  const values = output.backend.downloadSync ? output.backend.downloadSync(output) : await output.backend.download(output);
  for (let i = 0; i < values.length; i++) {
    if (Number.isFinite(values[i])) continue;
    throw new OmninetError(
      'NON_FINITE',
      `debug: op "${op}" on the ${output.backend.name} backend produced ${values[i]} at flat index ${i} of its output [${output.shape.join(', ')}]`,
    );
  }
}
