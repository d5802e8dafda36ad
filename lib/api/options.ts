/** The HTTP API's limits: defined in the config layer (the config's `api` section), lib/config/api-limits.ts. */
export { API_DEFAULTS, type ApiLimits } from '../config/api-limits.js';
