import { containmentSuite } from './containment.js';

// The same hostile programs, run as execs inside interactive sandboxes (docs/sandboxes.md): a sandbox that
// stays up between calls must contain them exactly as an evaluation's sandbox does.
containmentSuite('bwrap', 'sandbox');
