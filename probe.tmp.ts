import { makeFixture, story } from './test/browser/web-fixture.ts'
import { toHex } from './hub/src/core/index.ts'
const f = makeFixture(); await story(f)
console.log('queue', f.humanNode.reviewQueue.length)
await f.patient.grant(toHex(f.spare.id))
console.log('queue', f.humanNode.reviewQueue.length, f.events.filter(e => e.type === 'key' || e.type === 'dropped'))
await f.patient.revoke(toHex(f.spare.id))
console.log('queue', f.humanNode.reviewQueue.length, f.events.filter(e => e.type === 'key' || e.type === 'dropped').slice(-3))
