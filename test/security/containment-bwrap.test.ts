import { containmentSuite } from './containment.js';

containmentSuite('bwrap');
