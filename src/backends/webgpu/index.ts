// Registers every `webgpu` kernel; importing this module makes the backend usable.
import './kernels/linear.js';
import './kernels/layer-norm.js';
import './kernels/elementwise.js';
import './kernels/attention.js';
import './kernels/favor-features.js';
import './kernels/linear-attention.js';
import './kernels/layers.js';
import './kernels/causal-linear-attention.js';
import './kernels/key-value-cache.js';

export { WebGpuBackend, type WebGpuBackendOptions } from './backend.js';
export { describeAdapter, type AdapterSummary, type DeviceLimits } from './device.js';
