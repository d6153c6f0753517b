import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on every Linux ABI Node runs on). */
const USER_HZ = 100;

/**
 * CPU time of a process and all its descendants, ms: its own and its reaped children's (utime + stime +
 * cutime + cstime from /proc/<pid>/stat), plus, recursively, its live children's (a server's spawner helper
 * lives as long as the server). A sandbox's processes are all reaped by their parents, so for a server this
 * is the CPU of the server and every sandbox it ran, and none of whatever else the machine runs.
 */
export function treeCpuMs(pid: number | 'self'): number {
  let ticks: number;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may itself contain spaces or parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime, stime, cutime, cstime are fields 14-17 of the stat line, i.e. 11-14 after the name and state.
    ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
  } catch {
    // Ended while we looked: its parent has its times now, or will once it reaps it.
    return 0;
  }
  return (ticks * 1000) / USER_HZ + liveChildren(pid).reduce((sum, child) => sum + treeCpuMs(child), 0);
}

function liveChildren(pid: number | 'self'): number[] {
  const children: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const list = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (list) children.push(...list.split(' ').map(Number));
    }
  } catch {
    // Gone meanwhile.
  }
  return children;
}
