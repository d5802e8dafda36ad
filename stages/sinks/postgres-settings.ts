/** The store stage's settings the postgres sink reads (stages/sinks/postgres.ts), apart from the driver so config checks need not load it. */
export const POSTGRES_SETTINGS = [
  'postgresUrl',
  'postgresSchema',
  'postgresPoolSize',
  'postgresConnectTimeoutMs',
  'postgresStatementTimeoutMs',
  'postgresIdleTimeoutMs',
] as const;
