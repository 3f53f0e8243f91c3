import { validationFailed } from '../errors.js';
import { egressPolicyFromEnv, urlPort, type EgressPolicy } from './egress-policy.js';

/**
 * The rule for a webhook URL, at registration (the API) and again before each
 * delivery (the dispatcher), so a policy tightened after registration holds:
 * http or https only; outside development https, unless DEEPLENS_EGRESS_ALLOW
 * lists the URL's host:port (an operator's own receiver); a host that names a
 * refused address literally (an IP, localhost) → endpoint_forbidden. Names
 * are resolved and checked when each delivery connects (guardedAgents).
 */
export interface WebhookUrlPolicy {
  egress: EgressPolicy;
  requireHttps: boolean;
}

export function webhookUrlPolicyFromEnv(env: {
  NODE_ENV: string;
  DEEPLENS_EGRESS_ALLOW: readonly string[];
}): WebhookUrlPolicy {
  return { egress: egressPolicyFromEnv(env), requireHttps: env.NODE_ENV !== 'development' };
}

/** Parses and checks `text`; throws validation_failed or endpoint_forbidden (both 400), in the platform's words. */
export function checkWebhookUrl(text: string, policy: WebhookUrlPolicy): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw validationFailed('body.url must be an absolute http or https URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw validationFailed('body.url must be an http or https URL');
  const port = urlPort(url);
  if (url.protocol === 'http:' && policy.requireHttps && !policy.egress.listed(url.hostname, port)) {
    throw validationFailed(
      `body.url must use https; plain http is accepted only for a host:port an operator lists in DEEPLENS_EGRESS_ALLOW`,
    );
  }
  policy.egress.assertLiteralUrl(url, `the webhook URL's host ${url.host}`);
  return url;
}
