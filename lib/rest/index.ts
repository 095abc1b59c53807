/** MIMC's server-side REST API: the client, the token endpoint handler and the callback receiver. */
export { MIMCRestClient, DEFAULT_REST_BASE_URL, MAX_PUSH_PAYLOAD_BYTES, MAX_HISTORY_WINDOW_MS, DEFAULT_MAX_RESPONSE_BYTES } from './client.js';
export { createTokenHandler, type TokenHandlerOptions, type NodeRequestHandler } from './token-handler.js';
export {
  createCallbackHandler,
  callbackSecretVerifier,
  callbackUrlWithSecret,
  MIN_CALLBACK_SECRET_LENGTH,
  parseCallbackEvent,
  toCallbackEvent,
  type CallbackEvent,
  type P2PCallbackEvent,
  type TopicCallbackEvent,
  type CallbackHandlerOptions,
  type CallbackSecretOptions,
} from './callback-handler.js';
export type {
  MIMCRestClientOptions,
  RestRequestOptions,
  RestActor,
  RestToken,
  PushContent,
  TopicInfo,
  TopicMember,
  TopicDetail,
  TopicUpdate,
  RestTime,
  HistoryMessage,
  ChatListEntry,
  UnlimitedGroupMember,
  ChatLastMessage,
  HistoryPage,
  P2PConversation,
  TimeRange,
  CountRange,
  SequenceRange,
} from './types.js';
