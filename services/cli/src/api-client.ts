/**
 * The CLI's only way to the platform: the HTTP API. Every failure becomes a
 * CliError carrying the exit code scripts rely on, and a one-line message
 * (`code: message`, as errors travel everywhere else in DeepLens).
 */

export const ExitCode = {
  ok: 0,
  /** A job or operation failed (or was refused). */
  failed: 1,
  /** The command line, or the input it carried, is wrong. */
  usage: 2,
  /** The API could not be reached, or answered 503. */
  unreachable: 3,
  notFound: 4,
  /** No token, an unknown token, or one that may not do this. */
  auth: 5,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The public development token the API accepts when started without admin tokens (development mode only). */
const DEVELOPMENT_TOKEN = 'deeplens-dev-admin-token';
const DEFAULT_API_URL = 'http://127.0.0.1:8080';

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

export interface ApiConfig {
  url: string;
  token: string | null;
  /** The token is the public development one, assumed because DEEPLENS_TOKEN is unset. */
  assumedDevelopmentToken?: boolean;
}

/** DEEPLENS_API_URL and DEEPLENS_TOKEN; the development token is assumed only for an API on this machine. */
export function apiConfigFromEnv(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const url = (env.DEEPLENS_API_URL || DEFAULT_API_URL).replace(/\/+$/, '');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(`DEEPLENS_API_URL is not a URL: ${url}`, ExitCode.usage);
  }
  if (env.DEEPLENS_TOKEN) return { url, token: env.DEEPLENS_TOKEN };
  return LOCAL_HOSTS.has(parsed.hostname)
    ? { url, token: DEVELOPMENT_TOKEN, assumedDevelopmentToken: true }
    : { url, token: null };
}

export interface ApiResponse<T> {
  status: number;
  body: T;
}

type Query = Record<string, string | number | boolean | undefined>;

function exitCodeForStatus(status: number): number {
  if (status === 401 || status === 403) return ExitCode.auth;
  if (status === 404) return ExitCode.notFound;
  if (status === 400 || status === 413 || status === 415) return ExitCode.usage;
  if (status === 503) return ExitCode.unreachable;
  return ExitCode.failed;
}

export class ApiClient {
  constructor(
    readonly config: ApiConfig,
    private readonly timeoutMs = 30_000,
  ) {}

  async request<T>(
    method: string,
    path: string,
    options: { body?: unknown; query?: Query } = {},
  ): Promise<ApiResponse<T>> {
    if (!this.config.token) {
      throw new CliError(
        `DEEPLENS_TOKEN is not set (the development token is assumed only for an API on 127.0.0.1 or localhost, not ${this.config.url})`,
        ExitCode.auth,
      );
    }
    const url = new URL(`${this.config.url}${path}`);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.config.token}`,
      accept: 'application/json',
    };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: options.body === undefined ? null : JSON.stringify(options.body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const reason =
        (error as Error).name === 'TimeoutError'
          ? 'timed out'
          : (cause?.code ?? cause?.message ?? (error as Error).message);
      throw new CliError(`cannot reach the DeepLens API at ${this.config.url} (${reason})`, ExitCode.unreachable);
    }
    const text = await response.text();
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = text;
    }
    if (response.status >= 400) {
      const error = (body as { error?: { code?: string; message?: string } } | null)?.error;
      let message = error?.code
        ? `${error.code}: ${error.message ?? ''}`
        : `HTTP ${response.status} from ${method} ${path}`;
      // An API outside development never accepts the public token: say why the guess failed.
      if (response.status === 401 && this.config.assumedDevelopmentToken) {
        message +=
          ' (DEEPLENS_TOKEN is not set; the public development token was tried, and only an API started in development mode accepts it)';
      }
      throw new ApiError(message, exitCodeForStatus(response.status), response.status, error?.code ?? null);
    }
    return { status: response.status, body: body as T };
  }

  get<T>(path: string, query?: Query) {
    return this.request<T>('GET', path, query ? { query } : {});
  }
}

export class ApiError extends CliError {
  constructor(
    message: string,
    exitCode: number,
    readonly status: number,
    readonly code: string | null,
  ) {
    super(message, exitCode);
    this.name = 'ApiError';
  }

  /** The API answered that it has no such route at all (an API older than this CLI), not that a resource is missing. */
  get isMissingRoute(): boolean {
    return this.status === 404 && /^not_found: no route /.test(this.message);
  }
}

export const tenantPath = (tenant: string) => `/v1/tenants/${encodeURIComponent(tenant)}`;
