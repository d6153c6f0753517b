import { sandboxSuite } from './sandbox-suite.js';

sandboxSuite('gvisor');
