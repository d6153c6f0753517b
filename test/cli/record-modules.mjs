// Preloaded with `node --import` by test/cli/startup.test.ts: records every module the CLI resolves (its own
// files, packages and builtins) and writes the list to $CRUCIBLE_MODULE_LOG when the process exits.
import { writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const resolved = new Set();
registerHooks({
  resolve(specifier, context, nextResolve) {
    const result = nextResolve(specifier, context);
    resolved.add(result.url);
    return result;
  },
});
process.on('exit', () => writeFileSync(process.env.CRUCIBLE_MODULE_LOG, JSON.stringify([...resolved])));
