// comlink ships node-adapter.d.ts, which NodeNext resolution does not pair with node-adapter.mjs.
declare module 'comlink/dist/esm/node-adapter.mjs' {
  export default function nodeEndpoint(port: import('node:worker_threads').MessagePort | import('node:worker_threads').Worker): import('comlink').Endpoint;
}
