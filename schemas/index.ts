/**
 * Every TypeBox definition of the protocol and the configuration, as the
 * package's `roomler-realtime/schemas` entry: validate messages with
 * `@sinclair/typebox/compiler` or derive types with `Static<typeof …>`.
 */
export * from './common.js'
export * from './client-messages.js'
export * from './server-messages.js'
export * from './errors.js'
export * from './http.js'
export * from './config.js'
