import type { OpArgs, OpName } from '../kernels/ops.js';
import { Tensor } from '../tensor.js';

/**
 * Returns an estimate of the multiply-adds an op performs, which the dispatcher compares with
 * `gpuMinWork` under 'auto'. Ops that touch each value a few times count the values of their
 * tensor arguments.
 */
export function opWork<K extends OpName>(op: K, args: OpArgs[K]): number {
  switch (op) {
    case 'linear': {
      const { x, weight } = args as OpArgs['linear'];
      return x.size * weight.shape[0];
    }
    case 'attention': {
      const { batch, seq, heads, dimHead } = args as OpArgs['attention'];
      return 2 * batch * heads * seq * seq * dimHead;
    }
    case 'favorFeatures': {
      const { x, projection } = args as OpArgs['favorFeatures'];
      return x.size * projection.shape[0];
    }
    case 'linearAttention': {
      const { queryFeatures, dimHead } = args as OpArgs['linearAttention'];
      return 2 * queryFeatures.size * dimHead;
    }
    default:
      return tensorArguments(args).reduce((sum, tensor) => sum + tensor.size, 0);
  }
}

/** Returns the tensors among an op's arguments, arrays of tensors included. */
export function tensorArguments(args: object): Tensor[] {
  const tensors: Tensor[] = [];
  for (const value of Object.values(args)) {
    if (value instanceof Tensor) tensors.push(value);
    else if (Array.isArray(value)) for (const item of value) if (item instanceof Tensor) tensors.push(item);
  }
  return tensors;
}
