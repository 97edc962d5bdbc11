// The package test runs this from its temporary project: `deno run --allow-read deno-check.ts FIXTURE`.
import * as omninet from 'npm:omninet';
import { runChecks } from './checks.js';

const [source] = Deno.args;
const cases = [
  { place: 'thread', backend: 'wasm' },
  { place: 'worker', backend: 'wasm' },
];
const report = await runChecks(omninet, { source, fixtureBytes: await Deno.readFile(source), cases });
console.log(JSON.stringify(report));
