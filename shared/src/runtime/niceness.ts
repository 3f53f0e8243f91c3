import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * Lowers the scheduling priority of this whole process to `niceness` (0-19).
 * Linux applies a priority to one thread, and V8's and libuv's helper threads
 * (the garbage collector's among them) exist before the service starts, so
 * every thread in /proc/self/task gets it; threads made later inherit it.
 * Elsewhere the process's main thread gets it. Raising one's own niceness
 * needs no privilege. Answers the threads changed.
 */
export function lowerCpuPriority(niceness: number): number {
  if (niceness <= 0) return 0;
  let threads: string[];
  try {
    threads = readdirSync('/proc/self/task');
  } catch {
    setPriority(niceness);
    return 1;
  }
  let changed = 0;
  for (const thread of threads) {
    try {
      setPriority(Number(thread), niceness);
      changed += 1;
    } catch {
      // a thread that ended meanwhile
    }
  }
  return changed;
}
