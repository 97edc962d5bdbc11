import { OmninetError } from '../../errors.js';
import { currentPlatform } from '../../runtime-info.js';

/** The adapter's own description, for `omninet info`, logs and the dispatcher's choice. */
export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for CPU implementations (lavapipe, SwiftShader, WARP), whose timings do not reflect any GPU. */
  software: boolean;
  limits: DeviceLimits;
}

/** The device limits the kernels split their work by. */
export interface DeviceLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeWorkgroupsPerDimension: number;
  maxComputeInvocationsPerWorkgroup: number;
  minStorageBufferOffsetAlignment: number;
}

export interface AcquiredDevice {
  /** Kept for the device's lifetime: Dawn for Node crashes when its GPU object is collected while a device lives. */
  gpu: GPU;
  adapter: GPUAdapter;
  device: GPUDevice;
  summary: AdapterSummary;
}

// The npm package `webgpu` (Dawn) is an optional dependency. A non-literal specifier keeps
// bundlers from trying to resolve a native Node addon for browsers.
const DAWN_PACKAGE = 'webgpu';

let gpuPromise: Promise<GPU | null> | undefined;
let gpuUnavailableReason = '';

/**
 * Returns the WebGPU entry point: `navigator.gpu` in browsers and Deno, Dawn from the npm
 * package `webgpu` in Node. The Dawn object is created once per process and never released.
 */
export function getGpu(): Promise<GPU | null> {
  gpuPromise ??= loadGpu();
  return gpuPromise;
}

async function loadGpu(): Promise<GPU | null> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;

  const processInfo = (globalThis as { process?: { versions?: { node?: string } } }).process;
  if (!processInfo?.versions?.node) {
    gpuUnavailableReason = 'navigator.gpu is missing in this runtime';
    return null;
  }
  try {
    const dawn = (await import(DAWN_PACKAGE)) as { create(flags: string[]): GPU };
    return dawn.create([]);
  } catch (error) {
    gpuUnavailableReason = `the optional npm package "webgpu" (Dawn for Node) could not be loaded: ${(error as Error).message.split('\n')[0]}`;
    return null;
  }
}

/**
 * Requests an adapter and a device with the adapter's largest storage-binding, buffer and
 * workgroup-memory limits. Raises BACKEND_UNAVAILABLE, with the reason, when there is none.
 */
export async function acquireDevice(): Promise<AcquiredDevice> {
  const gpu = await getGpu();
  if (!gpu) throw new OmninetError('BACKEND_UNAVAILABLE', `backend "webgpu" is unavailable: ${gpuUnavailableReason}`);

  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    // Browsers find adapters themselves; Node (Dawn) and Deno need a Vulkan driver on the machine.
    const fix =
      currentPlatform() === 'browser'
        ? 'enable WebGPU in the browser (Chromium without a GPU: --enable-unsafe-webgpu) or choose the wasm backend'
        : 'without a GPU on Linux, install Mesa lavapipe: mesa-vulkan-drivers 23 or newer';
    throw new OmninetError('BACKEND_UNAVAILABLE', `backend "webgpu" is unavailable: no WebGPU adapter was found (${fix})`);
  }

  const requiredLimits: Record<string, number> = {};
  for (const name of ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize'] as const) {
    requiredLimits[name] = adapter.limits[name];
  }
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits });
  } catch (error) {
    throw new OmninetError('BACKEND_UNAVAILABLE', `backend "webgpu" is unavailable: requesting a device failed: ${(error as Error).message}`, { cause: error });
  }
  return { gpu, adapter, device, summary: summarizeAdapter(adapter, device.limits) };
}

/** Returns the adapter's description without keeping a device, or null with the reason. */
export async function describeAdapter(): Promise<{ summary: AdapterSummary | null; reason: string }> {
  const gpu = await getGpu();
  if (!gpu) return { summary: null, reason: gpuUnavailableReason };
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return { summary: null, reason: 'no WebGPU adapter was found' };
  return { summary: summarizeAdapter(adapter, adapter.limits), reason: '' };
}

function summarizeAdapter(adapter: GPUAdapter, limits: GPUSupportedLimits): AdapterSummary {
  const info = adapter.info;
  const vendor = info?.vendor ?? '';
  const architecture = info?.architecture ?? '';
  const device = info?.device ?? '';
  const description = info?.description ?? '';
  const fallback = Boolean(info?.isFallbackAdapter ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter);
  const software =
    fallback ||
    ['software', 'swiftshader', 'cpu'].includes(architecture.toLowerCase()) ||
    /llvmpipe|lavapipe|swiftshader|microsoft basic render|warp/i.test(`${device} ${description}`);

  return {
    vendor,
    architecture,
    device,
    description,
    software,
    limits: {
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
      minStorageBufferOffsetAlignment: limits.minStorageBufferOffsetAlignment,
    },
  };
}
