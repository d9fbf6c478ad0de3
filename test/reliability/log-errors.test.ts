/**
 * Logs never carry a token (contract: no token on any path), errors
 * included: an Error whose message, stack, cause or fields hold a token is
 * logged without it, by the standalone server's logger options and by the
 * plugin's request loggers, whose output is Fastify's own (pino) JSON lines here.
 */
import t from 'tap'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import { redactingLogger, redactingLoggerOptions } from '../../lib/support/logging.js'
import { signToken } from '../helper.js'

function capture(): { stream: Writable; text: () => string } {
  let text = ''
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += chunk.toString()
      done()
    },
  })
  return { stream, text: () => text }
}

t.test('an error holding a token is logged without it, and still as an error', async (t) => {
  const token = signToken({ sub: '65f1c0ffee0123456789abcd' })
  const failed = () => {
    const error = new Error(`upstream refused Bearer ${token}`, { cause: new Error(`while sending ?token=${token}`) }) as Error & { url?: string }
    error.url = `/ws?token=${token}`
    return error
  }
  const standalone = capture()
  const own = Fastify({ logger: { ...redactingLoggerOptions('info'), stream: standalone.stream } }).log
  own.error({ err: failed() }, 'publish failed')
  own.error(failed())
  own.error({ err: new AggregateError([failed()], 'several publishes failed') }, 'publish failed')
  const host = capture()
  const plugin = redactingLogger(Fastify({ logger: { level: 'info', stream: host.stream } }).log)
  plugin.error({ err: failed() }, 'publish failed')
  t.ok(/"aggregateErrors":\[\{"type":"Error","message":"upstream refused Bearer \[REDACTED\]/.test(standalone.text()), 'an AggregateError keeps its inner errors, redacted')
  for (const [name, out] of [['standalone logger', standalone.text()], ['plugin request logger', host.text()]] as const) {
    t.notOk(out.includes(token), `${name}: no token in any line`)
    t.ok(out.includes('upstream refused Bearer [REDACTED]'), `${name}: the message, redacted`)
    t.ok(out.includes('"type":"Error"') && out.includes('"stack"'), `${name}: logged as an error, with its stack`)
  }
})
