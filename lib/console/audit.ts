/** The console's audit trail; it lives in lib/ops/audit.ts so the API's own admin routes (pause, resume: lib/api/stage-control.ts) write it too. */
export { audit, auditKey, readAudit, type AuditEvent } from '../ops/audit.js';
