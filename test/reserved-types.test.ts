import t from 'tap'
import { isReservedType } from '../lib/protocol/reserved-types.js'
import { serverMessages } from '../schemas/server-messages.js'
import { clientMessages } from '../schemas/client-messages.js'

t.test('the types the contract reserves are refused', async (t) => {
  for (const type of ['connected', 'pong', 'error', 'presence:update', 'presence:state', 'presence:changed', 'typing:start', 'typing:stop', 'typing:anything', 'auth:refresh', 'auth:whatever']) {
    t.ok(isReservedType(type), `${type} is reserved`)
  }
})

t.test('in any case', async (t) => {
  for (const type of ['Connected', 'PONG', 'Error', 'Presence:Update', 'TYPING:start', 'Auth:Refresh']) {
    t.ok(isReservedType(type), `${type} is reserved`)
  }
})

t.test('every type the protocol itself sends is reserved, so an application event can never pass for one', async (t) => {
  for (const type of Object.keys(serverMessages)) t.ok(isReservedType(type), `${type} is reserved`)
  for (const type of Object.keys(clientMessages).filter((type) => type !== 'ping')) t.ok(isReservedType(type), `${type} is reserved`)
})

t.test('application types, including near misses, are not', async (t) => {
  for (const type of ['message:new', 'channel:updated', 'typing', 'typingstart', 'auth', 'presence', 'errors', 'connected:again', 'pong2', 'notification.created']) {
    t.notOk(isReservedType(type), `${type} is not reserved`)
  }
})
