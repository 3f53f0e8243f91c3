import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for a password (RFC 5802/7677),
 * computed here so that `ALTER ROLE … PASSWORD` receives the verifier, never
 * the password: statement logs (log_statement, bind parameters included)
 * then hold nothing that lets anyone log in. PostgreSQL recognises the
 * `SCRAM-SHA-256$` form and stores it as is.
 *
 * Passwords are taken as UTF-8 without SASLprep: the platform's own are
 * random ASCII, and operators' are used as they typed them.
 */
export function scramVerifier(password: string, { salt = randomBytes(16), iterations = 4096 } = {}): string {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
