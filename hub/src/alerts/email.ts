/** The e-mail channel: each alert as a plain-text message over SMTP (nodemailer), to every address of the settings. */
import nodemailer from 'nodemailer'
import type { Alert } from './alert.ts'
import { AlertDeliveryError } from './errors.ts'
import type { EmailSettings } from './settings.ts'
import type { Channel } from './out.ts'

export function emailChannel (s: EmailSettings, opts: { timeoutMs?: number } = {}): Channel {
  const timeout = opts.timeoutMs ?? 10_000
  const transport = nodemailer.createTransport({
    host: s.host,
    port: s.port,
    secure: s.secure,
    ...(s.username === undefined ? {} : { auth: { user: s.username, pass: s.password ?? '' } }),
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout
  })
  return {
    name: 'email',
    send: async (a: Alert) => {
      try {
        await transport.sendMail({
          from: s.from,
          to: [...s.to],
          subject: `[Healthchain] ${a.title}`,
          text: `${a.text}\n\n${a.kind} · ${a.severity} · ${new Date(a.at).toISOString()}\nalert ${a.id}\npatient ${a.patient}${a.device === undefined ? '' : `\ndevice ${a.device}`}\n`,
          headers: { 'X-Healthchain-Alert': a.id, 'X-Healthchain-Severity': a.severity }
        })
      } catch (err) { throw new AlertDeliveryError('email', `${s.host}:${s.port}: ${(err as Error).message}`) }
    },
    close: async () => { transport.close() }
  }
}
