/** Builds connection strings for the platform's databases from DATABASE_URL. */
export function withDatabase(connectionUri: string, database: string): string {
  const url = new URL(connectionUri);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

export function withCredentials(connectionUri: string, user: string, password: string | undefined): string {
  const url = new URL(connectionUri);
  url.username = encodeURIComponent(user);
  url.password = password ? encodeURIComponent(password) : '';
  return url.toString();
}

