/**
 * The demo page in a real browser: the standalone server as `npm start` runs
 * it (the built JS in dist/, demo mode), and three headless Chromium pages
 * signed in as the three demo users. Screenshots go to test-output/.
 */
import t from 'tap'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { DEMO_USERS } from '../demo/seed.js'
import { ensureBuilt, launchChromium } from './servers/browser.js'
import { ROOT, spawnStandalone } from './servers/standalone.js'

const OUTPUT = join(ROOT, 'test-output')
/** How long the page may take to show what the test waits for. */
const WAIT_MS = 10_000

/** `node dist/server.js` in demo mode on a free port, killed by its PID when the tests end; its base URL once the demo page is up. */
async function startServer(): Promise<string> {
  const server = await spawnStandalone(t, { built: true, env: { LOG_LEVEL: 'warn' } })
  await server.line(/^Open the demo page:/)
  return server.url
}

await ensureBuilt()
const base = await startServer()
const browser: Browser = await launchChromium(t)
await mkdir(OUTPUT, { recursive: true })

type Name = (typeof DEMO_USERS)[number]['username']
const names = DEMO_USERS.map((user) => user.username)
const pages = {} as Record<Name, Page>
const pageErrors: string[] = []

async function signIn(name: Name): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1000, height: 860 } })
  const page = await context.newPage()
  page.setDefaultTimeout(WAIT_MS)
  page.on('pageerror', (error) => pageErrors.push(`${name}: ${error.message}`))
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(`${name} console: ${message.text()}`)
  })
  await page.goto(base)
  await page.click(`[data-user=${name}]`)
  await page.waitForSelector('[data-testid=state][data-state=open]')
  return page
}

const member = (name: string, presence: string) => `[data-member=${name}][data-presence=${presence}]`
const typing = (name: string) => `[data-testid=typing] [data-typing=${name}]`

/** Everything the server sent this page before answering a ping has been handled by then. */
async function roundTrip(page: Page): Promise<void> {
  await page.evaluate(() => (window as unknown as { demo: { client: { ping(): Promise<number> } } }).demo.client.ping())
}

async function screenshots(label: string): Promise<void> {
  for (const name of names) {
    if (!pages[name]?.isClosed()) await pages[name]!.screenshot({ path: join(OUTPUT, `e2e-${label}-${name}.png`), fullPage: true })
  }
}

t.test('three demo users sign in and see each other online', async (t) => {
  for (const name of names) pages[name] = await signIn(name)
  for (const viewer of names) {
    for (const name of names) await pages[viewer].waitForSelector(member(name, 'online'))
  }
  t.pass('every page shows all three online')
  t.equal(await pages.ada.textContent('[data-testid=me]'), 'ada')
})

t.test('typing appears on the others’ pages and not one’s own, and disappears when it ends', async (t) => {
  const { ada, grace, linus } = pages
  await ada.locator('#message').pressSequentially('hello', { delay: 30 })
  await grace.waitForSelector(typing('ada'))
  await linus.waitForSelector(typing('ada'))
  t.equal(await grace.textContent('[data-testid=typing]'), 'ada is typing…', 'grace sees ada typing')

  await grace.locator('#message').pressSequentially('hi', { delay: 30 })
  await linus.waitForSelector(typing('grace'))
  t.equal(await linus.textContent('[data-testid=typing]'), 'ada and grace are typing…', 'linus sees both')
  await ada.waitForSelector(typing('grace'))
  await screenshots('typing')

  await roundTrip(ada)
  t.equal(await ada.locator(typing('ada')).count(), 0, 'ada does not see herself typing')
  await roundTrip(grace)
  t.equal(await grace.locator(typing('grace')).count(), 0, 'grace does not see herself typing')

  // Sending ends ada's typing at once.
  await ada.press('#message', 'Enter')
  await linus.waitForSelector(typing('ada'), { state: 'detached' })
  await grace.waitForSelector(typing('ada'), { state: 'detached' })
  t.equal(await linus.textContent('[data-testid=typing]'), 'grace is typing…')
  // grace stops typing: after the quiet period her client ends it by itself.
  await linus.waitForSelector(typing('grace'), { state: 'detached' })
  await ada.waitForSelector(typing('grace'), { state: 'detached' })
  t.equal(await linus.textContent('[data-testid=typing]'), '', 'nobody is typing any more')
})

t.test('presence changes show on every page, invisible as offline to the others', async (t) => {
  const { ada, grace, linus } = pages
  await ada.click('[data-set-presence=dnd]')
  for (const page of [ada, grace, linus]) await page.waitForSelector(member('ada', 'dnd'))
  t.pass('ada is dnd everywhere')

  await ada.click('[data-set-presence=invisible]')
  await ada.waitForSelector(member('ada', 'invisible'))
  await grace.waitForSelector(member('ada', 'offline'))
  await linus.waitForSelector(member('ada', 'offline'))
  t.pass('ada sees herself invisible; grace and linus see her offline')
  t.match(await grace.textContent('[data-member=ada]'), /offline/)

  await grace.click('[data-set-presence=idle]')
  for (const page of [ada, grace, linus]) await page.waitForSelector(member('grace', 'idle'))
  await screenshots('presence')

  await ada.click('[data-set-presence=online]')
  for (const page of [ada, grace, linus]) await page.waitForSelector(member('ada', 'online'))
  t.pass('ada back online everywhere')
})

t.test('a user who closes the page goes offline on the others’ pages', async (t) => {
  await pages.linus.context().close()
  await pages.ada.waitForSelector(member('linus', 'offline'))
  await pages.grace.waitForSelector(member('linus', 'offline'))
  t.pass('linus offline for ada and grace')
  await screenshots('final')
  t.same(pageErrors, [], 'no errors on any page')
})

t.test('in a browser, an upgrade refused with 401 is recognised and not retried', async (t) => {
  const context = await browser.newContext()
  const page = await context.newPage()
  await page.goto(base)
  const result = await page.evaluate(async (url) => {
    const { RealtimeClient } = await import('/client/index.js' as string)
    const client = new RealtimeClient({ url, token: 'not-a-token', reconnect: { initialDelayMs: 1, maxDelayMs: 1 } })
    const states: string[] = []
    return new Promise<{ states: string[]; status?: number }>((resolve) => {
      client.onState((change: { state: string; reason?: { status?: number } }) => {
        states.push(change.state)
        if (change.state === 'closed') resolve({ states, status: change.reason?.status })
      })
      client.connect()
    })
  }, base.replace(/^http/, 'ws') + '/ws')
  t.same(result, { states: ['connecting', 'closed'], status: 401 }, 'closed for good, with the status learned from the server')
  await context.close()
})
