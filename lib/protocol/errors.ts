import type { ErrorCode, ErrorDetails } from '../../schemas/errors.js'
import type { ErrorMessage } from '../../schemas/server-messages.js'

/** A refusal of one client message, sent back as an `error` message. */
export class ProtocolError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly requestType?: string,
    readonly details?: ErrorDetails,
  ) {
    super(message)
    this.name = 'ProtocolError'
  }

  toMessage(): ErrorMessage {
    const data: ErrorMessage['data'] = { code: this.code, message: this.message }
    if (this.requestType !== undefined) data.request_type = this.requestType
    if (this.details !== undefined) data.details = this.details
    return { type: 'error', data }
  }
}
