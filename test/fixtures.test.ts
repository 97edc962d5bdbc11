import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../src/index.js';
import { compareToFixture, listFixtures } from './helpers/fixtures.js';
import { requireWebGpu, testedBackends } from './helpers/webgpu.js';

const fixtures = listFixtures(['omninet', 'omninet-masked', 'omninet-causal-axial', 'omninet-causal-omni']);

describe.each(testedBackends(['js', 'wasm', 'webgpu'] as const))('golden fixtures on %s', (backend) => {
  beforeAll(() => {
    if (backend === 'webgpu') requireWebGpu();
  });

  it('finds the fixtures', () => {
    expect(fixtures.map((f) => f.config.fixture_kind)).toEqual(expect.arrayContaining(['omninet', 'omninet-masked', 'omninet-causal-axial', 'omninet-causal-omni']));
  });

  it.each(fixtures.map((f) => [f.name, f] as const))('%s matches', async (_name, fixture) => {
    const model = await loadModel(fixture.bytes, { backend });
    const output = await model.forward(fixture.input, { shape: fixture.shape, mask: fixture.mask });
    model.dispose();

    const result = compareToFixture(output, fixture);
    console.log(`${backend} ${fixture.name}: max abs ${result.maxAbs.toExponential(2)}, max rel ${result.maxRel.toExponential(2)}`);
    expect(result.failures, `${fixture.name} on ${backend}: ${result.failures} elements out of tolerance, first ${result.first}`).toBe(0);
  });
});
