import { defineConfig } from 'vitest/config';

/** Runs only the long fuzz pass, with `gc` exposed so memory samples are not noise from garbage. */
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['tools/fuzz/long.fuzz.ts'],
    pool: 'forks',
    execArgv: ['--expose-gc'],
  },
});
