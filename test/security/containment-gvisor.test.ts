import { containmentSuite } from './containment.js';

containmentSuite('gvisor');
