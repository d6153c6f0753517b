// Preloaded through NODE_OPTIONS by test/cli/startup.test.ts: every Node process that starts appends its
// version to $CRUCIBLE_NODE_LOG, so a test can count the Node starts behind one command.
import { appendFileSync } from 'node:fs';

appendFileSync(process.env.CRUCIBLE_NODE_LOG, `${process.version}\n`);
