/**
 * Every close the server makes, in one table: the code it sends (1000-2999
 * are RFC 6455's, 4000-4999 this protocol's own), the reason counted in
 * `roomler_connections_closed_total`, the close frame's text, and the advice
 * the AsyncAPI document publishes to clients. Every close goes through
 * `Connection.close(kind)`, so none can drift from this table.
 */
export const Closes = {
  GOING_AWAY: {
    code: 1001,
    reason: 'shutdown',
    text: 'server shutting down',
    reconnect: true,
    description: 'The server is shutting down; reconnect (to another instance) after a jittered backoff',
  },
  POLICY_VIOLATION: {
    code: 1008,
    reason: 'rate_limited',
    text: 'rate limit exceeded',
    reconnect: false,
    description: 'The client broke the protocol repeatedly (e.g. a long run of rate-limited messages); do not reconnect',
  },
  MESSAGE_TOO_BIG: {
    code: 1009,
    reason: 'payload_too_big',
    text: 'frame too large',
    reconnect: true,
    description: 'A frame was larger than MAX_PAYLOAD_BYTES; reconnect, and do not send it again',
  },
  INTERNAL_ERROR: {
    code: 1011,
    reason: 'internal_error',
    text: 'internal error',
    reconnect: true,
    description: 'The server hit an unexpected error on this connection; reconnect after a backoff',
  },
  SERVICE_RESTART: {
    code: 1012,
    reason: 'history_gap',
    text: 'missed events, resume',
    reconnect: true,
    description: 'This instance fell behind the shared history and lost events it should have delivered; reconnect with since (the resume tells you whether they were recovered)',
  },
  TRY_AGAIN_LATER: {
    code: 1013,
    reason: 'slow_consumer',
    text: 'too much unread output',
    reconnect: true,
    description: 'The client did not read its messages (unsent output passed MAX_BUFFERED_BYTES); reconnect after a backoff',
  },
  TOKEN_EXPIRED: {
    code: 4001,
    reason: 'token_expired',
    text: 'token expired',
    reconnect: true,
    description: 'The token expired and was not refreshed with auth:refresh; reconnect only with a new token',
  },
} as const

export type CloseKind = keyof typeof Closes

/** The close codes by name (the package exports this). */
export const CloseCode = Object.fromEntries(Object.entries(Closes).map(([kind, close]) => [kind, close.code])) as {
  readonly [K in CloseKind]: (typeof Closes)[K]['code']
}
export type CloseCode = (typeof CloseCode)[CloseKind]

/**
 * Why a connection ended, as counted in metrics: a close of the table, the
 * client's own close (`client`), or a peer cut for not answering the
 * heartbeat (`heartbeat`: no close frame, the socket is terminated).
 */
export type CloseReason = (typeof Closes)[CloseKind]['reason'] | 'client' | 'heartbeat'
