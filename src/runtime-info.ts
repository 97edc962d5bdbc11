/** Returns what the current JavaScript runtime offers to the backends. */
export interface RuntimeInfo {
  runtime: string;
  wasmSimd: boolean;
  wasmRelaxedSimd: boolean;
  wasmThreads: boolean;
  webgpu: boolean;
}

// (module (func (result v128) v128.const i32x4 0 0 0 0))
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 11,
]);

// (module (func (param v128 v128 v128) (result v128) local.get 0 local.get 1 local.get 2 f32x4.relaxed_madd))
const RELAXED_SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0, 32, 0, 32, 1, 32, 2, 253, 133, 2,
  11,
]);

export function describeRuntime(): RuntimeInfo {
  const g = globalThis as Record<string, unknown>;
  const deno = g.Deno as { version?: { deno?: string } } | undefined;
  const processInfo = g.process as { versions?: { node?: string } } | undefined;
  let runtime = 'browser';
  if (deno?.version?.deno) runtime = `deno ${deno.version.deno}`;
  else if (processInfo?.versions?.node) runtime = `node ${processInfo.versions.node}`;

  return {
    runtime,
    wasmSimd: validates(SIMD_PROBE),
    wasmRelaxedSimd: validates(RELAXED_SIMD_PROBE),
    wasmThreads: typeof SharedArrayBuffer === 'function',
    webgpu: typeof navigator !== 'undefined' && 'gpu' in navigator && Boolean((navigator as { gpu?: unknown }).gpu),
  };
}

function validates(bytes: Uint8Array<ArrayBuffer>): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(bytes);
  } catch {
    return false;
  }
}
