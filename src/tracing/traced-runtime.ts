import type { Runtime } from '../runtime/runtime.js';
import type { Tracing } from './tracing.js';

/**
 * The runtime with each launch (`start`, `adopt`) as an evaluation's `dispatch` span. Everything else passes
 * through untouched (the optional members keep being absent where the runtime has none).
 */
export function tracedRuntime(runtime: Runtime, tracing: Tracing): Runtime {
  if (!tracing.enabled) return runtime;
  return new Proxy(runtime, {
    get(target, property) {
      if (property === 'start') {
        return ((request, observer) =>
          tracing.launch(request.evaluationId, () => target.start(request, observer))) as Runtime['start'];
      }
      if (property === 'adopt') {
        return ((request, observer, delivered) =>
          tracing.launch(request.evaluationId, () =>
            target.adopt(request, observer, delivered),
          )) as Runtime['adopt'];
      }
      // The target as receiver: getters and methods may use private (#) fields, which a proxy has not.
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
