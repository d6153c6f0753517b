import { containmentSuite } from './containment.js';

// The hostile programs as execs inside interactive sandboxes on gVisor (`--sandbox gvisor`): contained as
// gVisor evaluations are.
containmentSuite('gvisor', 'sandbox');
