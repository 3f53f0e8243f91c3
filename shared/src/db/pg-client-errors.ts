import pg from 'pg';

let installed = false;
const ignore = () => undefined;

/**
 * Every pg.Client this process connects gets an 'error' listener if it has
 * none. PostgreSQL ends a connection (a restart, a failover,
 * pg_terminate_backend) with an error *event* on the client, which throws
 * out of the process when nobody listens. Slonik's pooled clients listen, but
 * @slonik/pg-driver 47 reads the type OIDs of every new pool with a client
 * that does not (queryTypeOverrides; gajus/slonik#471 names it): a restart
 * while that client is open killed the usage aggregator, which opens pools to
 * tenant databases all the time (seen in the faults-postgres test). The
 * listener changes nothing else: a query or connect on a lost connection
 * still rejects with the error, and clients that listen keep their listeners.
 * `pg` is one CommonJS module for us and for slonik, so one patch covers both.
 */
export function listenForClientErrors(): void {
  if (installed) return;
  installed = true;
  const connect = pg.Client.prototype.connect;
  pg.Client.prototype.connect = function connectListening(this: pg.Client, ...args: unknown[]) {
    if (this.listenerCount('error') === 0) this.on('error', ignore);
    return (connect as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof connect;
}
