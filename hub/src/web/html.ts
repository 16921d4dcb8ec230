/**
 * Safe HTML building for the server-rendered pages (OWASP XSS Prevention
 * cheat sheet, rule 1: escape before inserting into element content or a
 * quoted attribute). `html` is a template tag that escapes every
 * interpolated value unless it is already `Html` (the result of another
 * `html` call, or `raw` for trusted markup such as a rendered chart).
 */

export class Html {
  readonly text: string
  constructor (text: string) { this.text = text }
  toString (): string { return this.text }
}

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

export function escapeHtml (s: string): string { return s.replace(/[&<>"']/g, (c) => ESC[c]!) }

export type Part = Html | string | number | boolean | null | undefined | readonly Part[]

function render (v: Part): string {
  if (v === null || v === undefined || v === false) return ''
  if (v instanceof Html) return v.text
  if (Array.isArray(v)) return v.map(render).join('')
  return escapeHtml(String(v))
}

export function html (strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0]!
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!
  return new Html(out)
}

/** Trusted markup, inserted as is. */
export function raw (s: string): Html { return new Html(s) }
