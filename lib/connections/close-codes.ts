/**
 * Every close code the server sends, in one table. 1000-2999 are RFC 6455's;
 * 4000-4999 are this protocol's own (application codes).
 */
export const CloseCode = {
  /** The server is shutting down; reconnect to another instance. */
  GOING_AWAY: 1001,
  /** The client broke the protocol repeatedly (e.g. a long run of rate-limited messages). */
  POLICY_VIOLATION: 1008,
  /** A frame larger than MAX_PAYLOAD_BYTES. */
  MESSAGE_TOO_BIG: 1009,
  /** The server hit an unexpected error on this connection. */
  INTERNAL_ERROR: 1011,
  /** The client did not read its messages; its unsent output passed MAX_BUFFERED_BYTES. */
  TRY_AGAIN_LATER: 1013,
  /** The connection's token expired and was not refreshed; reconnect with a new one. */
  TOKEN_EXPIRED: 4001,
} as const

export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode]
