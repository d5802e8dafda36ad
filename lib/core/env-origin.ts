/**
 * How a config error names a setting the environment gave (`REDIS_URL (environment)`), told from
 * the config file's own (`redis.url`): the user set the variable, not the field. Such an error
 * names no config file either (the file did not hold the value).
 */
export const ENV_ORIGIN = ' (environment)';
export const fromEnv = (name: string): string => `${name}${ENV_ORIGIN}`;
