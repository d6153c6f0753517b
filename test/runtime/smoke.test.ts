import { test } from 'vitest';
import { createSandbox } from '../../src/runtime/local/sandbox.js';
import { run } from './sandbox-helpers.js';
test('smoke', async () => {
  const sb = await createSandbox({ isolation: (process.env.ISO ?? 'bwrap') as 'bwrap', stateDir: '/tmp/crucible-smoke', warn: (m) => console.error('WARN', m) });
  console.log(await run(sb, 'python', 'import os,sys\nprint(os.getuid(), os.getgid(), os.getgroups(), sorted(os.listdir("/")), os.listdir("/proc/self/fd"), dict(os.environ))\nprint(sys.stdin.read())', { stdin: 'hi' }));
  console.log(await run(sb, "bash", "ls -la /proc/self/fd; cat /proc/self/status | grep -E \"NoNewPrivs|Seccomp|Cap\"; ls -la /etc /code; touch /x /usr/x /code/x; echo > /etc/passwd"));
  console.log(await run(sb, 'javascript', 'console.log(process.version)'));
  const t = performance.now();
  for (let i = 0; i < 20; i++) await run(sb, 'python', 'print(1)');
  console.log('avg ms', (performance.now() - t) / 20);
});
