/**
 * A service started by `npm start` runs in its own process group (so one
 * Ctrl-C reaches it once, through the launcher) and is connected to the
 * launcher by an IPC channel. If the launcher dies without forwarding a
 * signal (kill -9), the channel closes and the service shuts itself down the
 * same graceful way a SIGTERM would.
 */
export function followParentProcess(): void {
  if (!process.connected) return;
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}
