/**
 * Configuration for an external Mosquitto broker (mosquitto.conf(5),
 * mosquitto_passwd(1)): no anonymous clients, one password-file entry per
 * device (username = device id, password = its secret) plus the hub's own
 * user, and an ACL under which a device may publish only below
 * `healthchain/<hub>/devices/<its username>/` while the hub may read the
 * readings of all. The documented files are in hub/mosquitto/.
 */

export interface MosquittoConfigOptions {
  port: number
  host?: string
  passwordFile: string
  aclFile: string
  /** directory for mosquitto.db (the hub's queued QoS 1 messages survive a broker restart) */
  persistenceDir?: string
  /** debug logging makes Mosquitto log denied publishes, which the hub counts */
  logDebug?: boolean
  /** started as root, Mosquitto switches to this user (default: user mosquitto); tests pass their own */
  runAsUser?: string
}

export function mosquittoConf (o: MosquittoConfigOptions): string {
  const lines = [
    `listener ${o.port} ${o.host ?? '127.0.0.1'}`,
    'allow_anonymous false',
    `password_file ${o.passwordFile}`,
    `acl_file ${o.aclFile}`,
    // the hub's session must hold QoS 1 messages while the hub is down
    'max_queued_messages 100000',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    ...(o.logDebug === true ? ['log_type debug'] : []),
    ...(o.runAsUser !== undefined ? [`user ${o.runAsUser}`] : [])
  ]
  if (o.persistenceDir !== undefined) lines.push('persistence true', `persistence_location ${o.persistenceDir.endsWith('/') ? o.persistenceDir : o.persistenceDir + '/'}`)
  return lines.join('\n') + '\n'
}

/** The ACL: the hub user reads all readings of its hub; each device writes only its own subtree. */
export function mosquittoAcl (hubId: string, hubUser: string): string {
  return [
    `user ${hubUser}`,
    `topic read healthchain/${hubId}/devices/+/readings`,
    '',
    '# every other user (a device): only its own subtree; %u = its username',
    `pattern write healthchain/${hubId}/devices/%u/#`,
    ''
  ].join('\n')
}
