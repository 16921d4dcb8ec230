/**
 * The webhook channel: each alert POSTed as JSON. With a secret, the body is
 * signed: X-Healthchain-Signature: sha256=<hex HMAC-SHA256(secret, body)>,
 * so the receiver can tell the hub's alerts from anyone else's POSTs.
 */
import { createHmac } from 'node:crypto'
import { alertJson, type Alert } from './alert.ts'
import { AlertDeliveryError } from './errors.ts'
import type { WebhookSettings } from './settings.ts'
import type { Channel } from './out.ts'

/** The signature header's value for `body` under `secret`. */
export function webhookSignature (secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`
}

export function webhookChannel (s: WebhookSettings, opts: { timeoutMs?: number } = {}): Channel {
  return {
    name: 'webhook',
    send: async (a: Alert) => {
      const body = JSON.stringify(alertJson(a))
      const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'healthchain-hub' }
      if (s.secret !== undefined) headers['x-healthchain-signature'] = webhookSignature(s.secret, body)
      let res: Response
      try {
        res = await fetch(s.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000), redirect: 'error' })
      } catch (err) { throw new AlertDeliveryError('webhook', `${s.url}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`) }
      await res.arrayBuffer().catch(() => {})
      if (res.status < 200 || res.status > 299) throw new AlertDeliveryError('webhook', `${s.url} answered ${res.status}`)
    },
    close: async () => {}
  }
}
