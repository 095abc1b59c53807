/** mimc-node: a TypeScript SDK for Xiaomi MIMC over its native TCP protocol. */
export { MCUser, type IncomingMessage, type SendTimeout, type StatusChange, type MCUserEventMap, type LoginOptions } from './user/mcuser.js';
export { HttpTokenFetcher, parseTokenJson, DEFAULT_TOKEN_URL, type HttpTokenFetcherOptions, type TokenInfo } from './user/token.js';
export { DEFAULT_RESOLVER_URL, resolveFrontends, type FrontendAddress } from './user/resolver.js';
export { DEFAULT_REST_URL } from './user/uc-rest.js';
export { createLogger, REDACTED_PATHS, REDACTED_FIELDS, REDACTION_DEPTH, type LoggerOptions } from './user/logger.js';
export { aggregateMetrics, ACK_LATENCY_BUCKETS_MS, HANDLER_DURATION_BUCKETS_MS, type MetricsSnapshot, type MetricsGauges, type LatencyHistogram } from './user/metrics.js';
export { registerPrometheusMetrics, type PromClientLike, type RegistryLike } from './user/prometheus.js';
export {
  MemoryUserInfoStore,
  FileUserInfoStore,
  defaultUserInfoDirectory,
  type UserInfo,
  type UserInfoStore,
} from './user/user-info-store.js';
export type {
  Token,
  StatusDelegate,
  MessageHandlerDelegate,
  P2PMessage,
  P2TMessage,
  ServerAck,
  SendOptions,
  SendAndWaitOptions,
  ConnectionState,
  AckMode,
  ReconnectOptions,
  ReconnectingEvent,
  MCUserOptions,
  Transport,
  WebSocketOptions,
  HealthSnapshot,
  CloseReport,
  DeadLetter,
  MessageBatch,
  HandlerRetryOptions,
  PullNotification,
  UCMessage,
} from './user/types.js';
export { MIMCError, ErrorCode } from './errors.js';
export { toJsonSafe } from './json-safe.js';
export * from './rest/index.js';
