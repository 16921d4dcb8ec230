/**
 * The accounting node's service layer (paper §III-A consortium accounting
 * node, §IV-B3 Docchain by PBFT): what its control API (api/daemon-routes.ts)
 * and `healthchain accounting status|members|block` show of a running node —
 * where it is on Docchain (committed height, view, leader), who the members
 * are, a committed Dblock, its Userchain copy. It only reads: consensus and
 * settlement run in roles/accounting, untouched by the API.
 */
import { dblockHash, equalBytes, fromHex, InvalidFieldError, toHex, txId, type Identity } from '../core/index.ts'
import type { AccountingConfig } from '../roles/accounting/config.ts'
import type { AccountingService } from '../roles/accounting/service.ts'
import { plain } from './hub-service.ts'
import { ApiNotFoundError } from '../api/errors.ts'

export interface AccountingStatus {
  /** this member's ID (hex) and its place in leader order */
  readonly id: string
  readonly member: number
  readonly members: number
  /** faults tolerated: n = 3f + 1 */
  readonly f: number
  readonly view: number
  readonly leader: string
  /** the committed Docchain height and its tip's hash */
  readonly docchain: { readonly height: number, readonly tip: string | null }
  readonly userchain: { readonly height: number, readonly tip: string }
  readonly peers: number
  /** the replica's in-memory state (votes, slots, pending requests…) */
  readonly pbft: Record<string, number>
}

export interface AccountingMember { readonly index: number, readonly id: string, readonly addr: string | null, readonly self: boolean, readonly leader: boolean }

export interface AccountingDaemon {
  status: () => Promise<AccountingStatus>
  /** The members in leader order, with the current view's leader marked. */
  members: () => Promise<{ readonly view: number, readonly members: readonly AccountingMember[] }>
  /** A committed Dblock: header, its tx_diag ids, certificate signers. */
  block: (height: number) => Promise<Record<string, unknown>>
}

export function accountingDaemon (svc: AccountingService, cfg: AccountingConfig, self: Identity): AccountingDaemon {
  const node = svc.node
  const ids = cfg.members.map((m) => fromHex('members', m.id))
  const member = ids.findIndex((id) => equalBytes(id, self.id))
  const tipHash = async (): Promise<string | null> => {
    const b = node.height === 0 ? undefined : await node.block(node.height)
    return b === undefined ? null : toHex(dblockHash(b.header))
  }
  return {
    status: async () => ({
      id: toHex(self.id),
      member,
      members: ids.length,
      f: Math.floor((ids.length - 1) / 3),
      view: node.view,
      leader: toHex(node.leader),
      docchain: { height: node.height, tip: await tipHash() },
      userchain: { height: svc.core.store.tip.height, tip: svc.core.store.tip.hex },
      peers: svc.net.net.libp2p.getPeers().length,
      pbft: node.footprint()
    }),
    members: async () => ({
      view: node.view,
      members: cfg.members.map((m, i) => ({ index: i, id: m.id, addr: m.addr ?? null, self: i === member, leader: equalBytes(ids[i]!, node.leader) }))
    }),
    block: async (height) => {
      if (height > node.height) throw new InvalidFieldError('params.height', `${height} is above the committed height (${node.height})`)
      const b = await node.block(height)
      if (b === undefined) throw new ApiNotFoundError('params.height', `Dblock ${height}`)
      return plain({ hash: toHex(dblockHash(b.header)), header: b.header, txs: b.txs.map(({ tx }) => ({ id: toHex(txId(tx)), kind: tx.kind })), cert: b.cert.map((c) => ({ replica: c.replica, view: c.view })) }) as Record<string, unknown>
    }
  }
}
