import { describeAdapter, type AdapterSummary } from '../../src/backends/webgpu/index.js';

const inCi = process.env.CI === 'true';
const probe: { summary: AdapterSummary | null; reason: string } = await describeAdapter();

/** The adapter WebGPU tests run on, or null. */
export const webgpuAdapter = probe.summary;

/**
 * Whether suites that need WebGPU run: always under CI (where they fail without an adapter, see
 * `requireWebGpu`), and on a developer machine only when an adapter exists.
 */
export const runWebGpuTests = webgpuAdapter !== null || inCi;

if (webgpuAdapter) {
  const kind = webgpuAdapter.software ? 'software adapter' : 'adapter';
  console.log(`WebGPU tests run on the ${kind} ${webgpuAdapter.vendor} ${webgpuAdapter.architecture} (${webgpuAdapter.description || webgpuAdapter.device})`);
} else if (!inCi) {
  console.log(`WebGPU tests skipped: ${probe.reason}. On Debian 12 without a GPU, install mesa-vulkan-drivers from bookworm-backports (see .ci/run).`);
}

/** Raises, in a beforeAll, when CI has no adapter: the WebGPU tests must run there. */
export function requireWebGpu(): void {
  if (!webgpuAdapter) {
    throw new Error(`CI=true but no WebGPU adapter is available (${probe.reason}): .ci/run installs Mesa lavapipe (mesa-vulkan-drivers from bookworm-backports) so that the WGSL kernels run in CI`);
  }
}

/** Returns `backends` without 'webgpu' where WebGPU tests do not run (see `runWebGpuTests`). */
export function testedBackends<T extends string>(backends: readonly T[]): T[] {
  return backends.filter((backend) => backend !== 'webgpu' || runWebGpuTests);
}
