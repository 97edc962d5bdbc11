// The package test runs this from its temporary project: `node node-check.mjs FIXTURE`.
import { readFile } from 'node:fs/promises';
import * as omninet from 'omninet';
import { runChecks } from './checks.js';

const [source] = process.argv.slice(2);
const cases = [
  { place: 'thread', backend: 'wasm' },
  { place: 'worker', backend: 'wasm' },
];
const report = await runChecks(omninet, { source, fixtureBytes: new Uint8Array(await readFile(source)), cases });
console.log(JSON.stringify(report));
