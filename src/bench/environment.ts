import type { Backend } from '../backends/backend.js';
import { describeRuntime } from '../runtime-info.js';

/** The machine a benchmark ran on. */
export interface MachineInfo {
  /** CPU model as the OS names it; browsers do not expose it. */
  cpu: string;
  /** Logical cores. */
  cores: number;
  memoryBytes: number | null;
  /** OS and architecture, e.g. "linux x64". */
  platform: string;
  /** "node 20.20.2", "deno 2.1.4" or "browser". */
  runtime: string;
  userAgent: string | null;
}

/** Description of one backend: availability, WebAssembly features and build, or WebGPU adapter. */
export interface BackendInfo {
  name: string;
  available: boolean;
  /** Reason the backend could not be created. */
  reason?: string;
  wasm?: {
    simd: boolean;
    relaxedSimd: boolean;
    threads: boolean;
    /** The kernel module in use: "simd" or "relaxed-simd". */
    build: string;
  };
  webgpu?: {
    vendor: string;
    architecture: string;
    device: string;
    description: string;
    /** A CPU implementation (lavapipe, SwiftShader, WARP), whose times do not measure GPU speed. */
    software: boolean;
  };
  /** One line for tables and charts, e.g. "wasm (relaxed-simd)" or "webgpu (software: mesa lavapipe)". */
  label: string;
}

/** Returns the machine description; the CPU model and memory only where the runtime exposes them. */
export async function describeMachine(): Promise<MachineInfo> {
  const runtime = describeRuntime().runtime;
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number; userAgent?: string; platform?: string } }).navigator;
  const processInfo = (globalThis as { process?: { versions?: { node?: string } } }).process;
  if (processInfo?.versions?.node) {
    // Deno also provides node:os (and sets process.versions.node).
    const os = await import('node:os');
    const cpus = os.cpus();
    return {
      cpu: cpus[0]?.model.trim() || 'unknown',
      cores: cpus.length,
      memoryBytes: os.totalmem(),
      platform: `${os.platform()} ${os.arch()}`,
      runtime,
      userAgent: null,
    };
  }
  return {
    cpu: 'unknown (not exposed to web pages)',
    cores: nav?.hardwareConcurrency ?? 0,
    memoryBytes: null,
    platform: nav?.platform ?? 'unknown',
    runtime,
    userAgent: nav?.userAgent ?? null,
  };
}

/** Returns what `backend` runs with: WebAssembly features and build, or the WebGPU adapter. */
export async function describeBackend(backend: Backend): Promise<BackendInfo> {
  if (backend.name === 'wasm') {
    const runtime = describeRuntime();
    const { defaultKernelBuild } = await import('../backends/wasm/module.js');
    const build = defaultKernelBuild();
    // Read through a structural type, so this file does not depend on the wasm backend's module.
    const threads = (backend as { threads?: number }).threads ?? 1;
    return {
      name: 'wasm',
      available: true,
      wasm: { simd: runtime.wasmSimd, relaxedSimd: runtime.wasmRelaxedSimd, threads: runtime.wasmThreads, build },
      label: `wasm (${build}, ${threads} thread${threads === 1 ? '' : 's'})`,
    };
  }
  if (backend.name === 'webgpu') {
    // Read through a structural type, so this file does not depend on the WebGPU backend's module.
    const adapter = (backend as { adapter?: Partial<NonNullable<BackendInfo['webgpu']>> }).adapter ?? {};
    const webgpu = {
      vendor: adapter.vendor ?? '',
      architecture: adapter.architecture ?? '',
      device: adapter.device ?? '',
      description: adapter.description ?? '',
      software: adapter.software ?? false,
    };
    const name = [webgpu.vendor, webgpu.description || webgpu.device || webgpu.architecture].filter(Boolean).join(' ') || 'unknown adapter';
    return { name: 'webgpu', available: true, webgpu, label: `webgpu (${webgpu.software ? 'software: ' : ''}${name})` };
  }
  return { name: backend.name, available: true, label: backend.name === 'js' ? 'js (float64 reference)' : backend.name };
}
