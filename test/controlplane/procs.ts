/** Process helpers shared by the control-plane and lab CLIs. */

/** True if a process with this pid exists (signal 0 probes without killing). */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM each pid, wait up to graceMs for all to exit, then SIGKILL what is left. */
export async function killAndWait(pids: readonly number[], graceMs: number): Promise<void> {
  const live = pids.filter(isAlive);
  for (const pid of live) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* exited meanwhile */
    }
  }
  const until = Date.now() + graceMs;
  while (live.some(isAlive) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  for (const pid of live.filter(isAlive)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* exited meanwhile */
    }
  }
  const hardUntil = Date.now() + 2000;
  while (live.some(isAlive) && Date.now() < hardUntil) await new Promise((r) => setTimeout(r, 20));
}
