/**
 * The one typed configuration. Sources, later wins: defaults < environment (JT808_* and the
 * conventional DATABASE_URL / REDIS_URL) < command-line flags. Validated at start; every error
 * names the setting and what it expected.
 */
export interface Config {
  /** TCP port terminals connect to. Default 7611 (no IANA port for JT/T 808; 7611 is common in deployments). */
  tcpPort: number
  tcpHost: string
  /** HTTP port of the REST API. */
  httpPort: number
  httpHost: string
  /** Unset: embedded PGlite in dataDir. */
  databaseUrl: string | null
  dataDir: string
  /** Unset: in-process state (single process only). */
  redisUrl: string | null
  /** Gateway processes; > 1 requires redisUrl. */
  workers: number
  nodeId: string
  registrationMode: 'registry' | 'open'
  authFailuresBeforeClose: number
  /** A connection that has not authenticated this long after it opened is closed, whatever it sends. */
  authDeadlineSeconds: number
  /** Registrations/authentications handled at once per process (registry lookups, session writes); the rest wait in line. */
  authConcurrency: number
  /** Registrations/authentications waiting in line per process; past it the connection is closed (the terminal backs off and retries). */
  authQueue: number
  /** Once the oldest waiting registration/authentication has waited this long (ms), the line is served newest first. */
  authLifoAfterMs: number
  /** Listen backlog of the terminal port (the kernel caps it at net.core.somaxconn). */
  tcpBacklog: number
  /** Descriptors of the terminal port each process accepts on (one connection per descriptor per event-loop turn; extra ones need `--workers`). */
  acceptLanes: number
  /** Terminal heartbeat interval in s (parameter 0x0001); idle timeout defaults to 3x this. */
  heartbeatSeconds: number
  idleTimeoutSeconds: number
  badFramesBeforeClose: number
  maxFrameLength: number
  subpacketTimeoutSeconds: number
  lenientChecksum: boolean
  archiveRawFrames: boolean
  /** Group commit: flush at this many rows or after this many ms. */
  ingestBatchRows: number
  ingestBatchMs: number
  /** Batches being written at once (each on its own connection). */
  ingestInFlight: number
  /** Rows queued before sockets stop reading (backpressure). */
  ingestHighWater: number
  commandTimeoutSeconds: number
  offlineCommandTtlSeconds: number
  /** Sizing of the TimescaleDB chunk interval. */
  fleetSize: number
  reportIntervalSeconds: number
  retention: { positionsDays: number; rawFramesDays: number; alarmsDays: number; waybillsDays: number; anomaliesDays: number; attachmentsDays: number }
  logLevel: string
  bootstrapToken: string | null
  /** Bearer token /metrics requires (16+ characters); unset: /metrics is open to whoever reaches its port. */
  metricsToken: string | null
  /** "host:port" of a separate admin listener serving /metrics (then not served on the API port); unset: /metrics on the API port. */
  adminHttpAddr: string | null
  /** How long a Redis command may wait before Redis counts as unreachable (state degrades, terminals carry on). */
  redisCommandTimeoutMs: number
  /** Stream entries (matcher feed, events) buffered while Redis is unreachable; past it the oldest are dropped, counted. */
  redisBufferedEntries: number
  /** Vehicles whose newest position is buffered while Redis is unreachable; past it the oldest are dropped. */
  redisBufferedPositions: number
  /** Matcher rule thresholds (src/matcher/config.ts): a JSON object, or the path of a JSON file. Unset: the defaults of docs/rules.md. */
  matcherConfig: string | null
  /** The console's base map: a raster tile URL template ({z}/{x}/{y}, e.g. Tianditu, an intranet tile server, OSM). Unset: the packaged offline outlines. */
  baseMapUrl: string | null
  /** Attribution shown for baseMapUrl's tiles. */
  baseMapAttribution: string | null
  /** Active-safety attachment server (src/attachments): port, and the address 0x9208 sends terminals to. */
  attachmentsPort: number
  /** in-process: `serve` runs the attachment server; separate: `jt808 attachments` does (0x9208 names advertise host:port). */
  attachmentsServer: 'in-process' | 'separate'
  attachmentsHost: string
  /** Unset: the first non-internal IPv4 address of this host. */
  attachmentsAdvertiseHost: string | null
  /** Alarm id layout: T/JSATL12-2017 (Jiangsu, 16 bytes) or T/GDRTA 002-2020 (Guangdong, 40 bytes). */
  attachmentsVariant: 'jsatl12' | 'gdrta'
  /** Per-terminal exceptions, "PHONE=gdrta,PHONE=jsatl12". */
  attachmentsVariantByTerminal: string | null
  attachmentsMaxFileBytes: number
  attachmentsMaxFiles: number
  /** Received file bytes not yet on disk: per connection (its socket pauses) and in total. */
  attachmentsConnectionBytes: number
  attachmentsGlobalBytes: number
  /** From 0x1211 to a complete file. */
  attachmentsFileDeadlineSeconds: number
  /** Unset: files in `${dataDir}/attachments`. `s3://bucket?endpoint=URL&region=R` (credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY). */
  attachmentsStore: string | null
  /** How often the matcher checkpoints the per-vehicle state of vehicles that changed (seconds). */
  matcherCheckpointSeconds: number
  /** JT/T 809 main-link server for lower platforms (upper-platform role). Unset: not listening. */
  platformPort: number | null
  platformHost: string
  /** The address superiors open their sub-link to (announced in our 0x1001). Unset: platformHost, or 127.0.0.1 when that is a wildcard. */
  platformDownlinkHost: string | null
  /** A 809 link with no frame for this long is closed (link tests are sent at a third of it). */
  platformIdleSeconds: number
  /** Backlog sent up to a superior after a broken link (0x1203), positions per second at most. */
  platformBacklogRate: number
  /** 查岗: minutes a lower platform has to answer a post query before it is flagged unanswered. */
  platformPostQueryMinutes: number
}

export const DEFAULTS: Config = {
  tcpPort: 7611,
  tcpHost: '0.0.0.0',
  httpPort: 8080,
  httpHost: '0.0.0.0',
  databaseUrl: null,
  dataDir: './data',
  redisUrl: null,
  workers: 1,
  nodeId: '',
  registrationMode: 'registry',
  authFailuresBeforeClose: 3,
  authDeadlineSeconds: 30,
  authConcurrency: 64,
  authQueue: 10_000,
  authLifoAfterMs: 2000,
  tcpBacklog: 4096,
  acceptLanes: 16,
  heartbeatSeconds: 60,
  idleTimeoutSeconds: 180,
  badFramesBeforeClose: 10,
  maxFrameLength: 4096,
  subpacketTimeoutSeconds: 30,
  lenientChecksum: false,
  archiveRawFrames: true,
  // Batches flush after 20 ms under normal load, so the row cap only matters when the queue backs
  // up: 10,000 rows × 2 in flight sustained the most without raising p99 (bench/ingest e2e; the
  // figures are in bench/RESULTS.md, "How the ingest defaults were chosen").
  ingestBatchRows: 10_000,
  ingestBatchMs: 20,
  ingestInFlight: 2,
  ingestHighWater: 50_000,
  commandTimeoutSeconds: 30,
  offlineCommandTtlSeconds: 86_400,
  fleetSize: 10_000,
  reportIntervalSeconds: 30,
  retention: { positionsDays: 180, rawFramesDays: 30, alarmsDays: 1095, waybillsDays: 400, anomaliesDays: 1095, attachmentsDays: 1095 },
  logLevel: 'info',
  bootstrapToken: null,
  metricsToken: null,
  adminHttpAddr: null,
  redisCommandTimeoutMs: 2000,
  redisBufferedEntries: 100_000,
  redisBufferedPositions: 100_000,
  matcherConfig: null,
  baseMapUrl: null,
  baseMapAttribution: null,
  attachmentsPort: 7612,
  attachmentsServer: 'in-process',
  attachmentsHost: '0.0.0.0',
  attachmentsAdvertiseHost: null,
  attachmentsVariant: 'jsatl12',
  attachmentsVariantByTerminal: null,
  attachmentsMaxFileBytes: 64 * 1024 * 1024,
  attachmentsMaxFiles: 32,
  attachmentsConnectionBytes: 4 * 1024 * 1024,
  attachmentsGlobalBytes: 256 * 1024 * 1024,
  attachmentsFileDeadlineSeconds: 600,
  attachmentsStore: null,
  matcherCheckpointSeconds: 60,
  platformPort: null,
  platformHost: '0.0.0.0',
  platformDownlinkHost: null,
  platformIdleSeconds: 180,
  platformBacklogRate: 2000,
  platformPostQueryMinutes: 10,
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`)
    this.name = 'ConfigError'
  }
}

/** pino's level names (an unknown one would stop the logger with an error naming no setting). */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

type Kind = 'int' | 'nullable-int' | 'bool' | 'string' | 'nullable-string' | 'mode' | 'secret' | 'address' | 'log-level' | 'choice'
interface Setting {
  key: keyof Config | `retention.${keyof Config['retention']}`
  env: string
  flag: string
  kind: Kind
  min?: number
  max?: number
  /** kind 'choice': the accepted values */
  choices?: readonly string[]
}

const SETTINGS: Setting[] = [
  { key: 'tcpPort', env: 'JT808_TCP_PORT', flag: 'port', kind: 'int', min: 0, max: 65535 },
  { key: 'tcpHost', env: 'JT808_TCP_HOST', flag: 'host', kind: 'string' },
  { key: 'httpPort', env: 'JT808_HTTP_PORT', flag: 'http-port', kind: 'int', min: 0, max: 65535 },
  { key: 'httpHost', env: 'JT808_HTTP_HOST', flag: 'http-host', kind: 'string' },
  { key: 'databaseUrl', env: 'DATABASE_URL', flag: 'database-url', kind: 'nullable-string' },
  { key: 'dataDir', env: 'JT808_DATA_DIR', flag: 'data-dir', kind: 'string' },
  { key: 'redisUrl', env: 'REDIS_URL', flag: 'redis-url', kind: 'nullable-string' },
  { key: 'workers', env: 'JT808_WORKERS', flag: 'workers', kind: 'int', min: 1, max: 256 },
  { key: 'nodeId', env: 'JT808_NODE_ID', flag: 'node-id', kind: 'string' },
  { key: 'registrationMode', env: 'JT808_REGISTRATION', flag: 'registration', kind: 'mode' },
  { key: 'authFailuresBeforeClose', env: 'JT808_AUTH_FAILURES', flag: 'auth-failures', kind: 'int', min: 1 },
  { key: 'authDeadlineSeconds', env: 'JT808_AUTH_DEADLINE_S', flag: 'auth-deadline', kind: 'int', min: 1 },
  { key: 'authConcurrency', env: 'JT808_AUTH_CONCURRENCY', flag: 'auth-concurrency', kind: 'int', min: 1, max: 1024 },
  { key: 'authQueue', env: 'JT808_AUTH_QUEUE', flag: 'auth-queue', kind: 'int', min: 0 },
  { key: 'authLifoAfterMs', env: 'JT808_AUTH_LIFO_AFTER_MS', flag: 'auth-lifo-after', kind: 'int', min: 0 },
  { key: 'tcpBacklog', env: 'JT808_TCP_BACKLOG', flag: 'tcp-backlog', kind: 'int', min: 1, max: 1 << 20 },
  { key: 'acceptLanes', env: 'JT808_ACCEPT_LANES', flag: 'accept-lanes', kind: 'int', min: 1, max: 256 },
  { key: 'heartbeatSeconds', env: 'JT808_HEARTBEAT_S', flag: 'heartbeat', kind: 'int', min: 1 },
  { key: 'idleTimeoutSeconds', env: 'JT808_IDLE_TIMEOUT_S', flag: 'idle-timeout', kind: 'int', min: 1 },
  { key: 'badFramesBeforeClose', env: 'JT808_BAD_FRAMES', flag: 'bad-frames', kind: 'int', min: 1 },
  { key: 'maxFrameLength', env: 'JT808_MAX_FRAME', flag: 'max-frame', kind: 'int', min: 64, max: 1 << 20 },
  { key: 'subpacketTimeoutSeconds', env: 'JT808_SUBPACKET_TIMEOUT_S', flag: 'subpacket-timeout', kind: 'int', min: 1 },
  { key: 'lenientChecksum', env: 'JT808_LENIENT', flag: 'lenient', kind: 'bool' },
  { key: 'archiveRawFrames', env: 'JT808_ARCHIVE_RAW', flag: 'archive-raw', kind: 'bool' },
  { key: 'ingestBatchRows', env: 'JT808_BATCH_ROWS', flag: 'batch-rows', kind: 'int', min: 1, max: 100_000 },
  { key: 'ingestBatchMs', env: 'JT808_BATCH_MS', flag: 'batch-ms', kind: 'int', min: 0, max: 10_000 },
  { key: 'ingestInFlight', env: 'JT808_INGEST_IN_FLIGHT', flag: 'ingest-in-flight', kind: 'int', min: 1, max: 16 },
  { key: 'ingestHighWater', env: 'JT808_INGEST_HIGH_WATER', flag: 'ingest-high-water', kind: 'int', min: 1 },
  { key: 'commandTimeoutSeconds', env: 'JT808_COMMAND_TIMEOUT_S', flag: 'command-timeout', kind: 'int', min: 1 },
  { key: 'offlineCommandTtlSeconds', env: 'JT808_OFFLINE_COMMAND_TTL_S', flag: 'offline-command-ttl', kind: 'int', min: 1 },
  { key: 'fleetSize', env: 'JT808_FLEET_SIZE', flag: 'fleet-size', kind: 'int', min: 1 },
  { key: 'reportIntervalSeconds', env: 'JT808_REPORT_INTERVAL_S', flag: 'report-interval', kind: 'int', min: 1 },
  { key: 'retention.positionsDays', env: 'JT808_RETENTION_POSITIONS_DAYS', flag: 'retention-positions', kind: 'int', min: 1 },
  { key: 'retention.rawFramesDays', env: 'JT808_RETENTION_RAW_DAYS', flag: 'retention-raw', kind: 'int', min: 1 },
  { key: 'retention.alarmsDays', env: 'JT808_RETENTION_ALARMS_DAYS', flag: 'retention-alarms', kind: 'int', min: 1 },
  { key: 'retention.waybillsDays', env: 'JT808_RETENTION_WAYBILLS_DAYS', flag: 'retention-waybills', kind: 'int', min: 365 },
  { key: 'retention.anomaliesDays', env: 'JT808_RETENTION_ANOMALIES_DAYS', flag: 'retention-anomalies', kind: 'int', min: 1095 },
  { key: 'logLevel', env: 'JT808_LOG_LEVEL', flag: 'log-level', kind: 'log-level' },
  { key: 'bootstrapToken', env: 'JT808_BOOTSTRAP_TOKEN', flag: 'bootstrap-token', kind: 'nullable-string' },
  { key: 'baseMapUrl', env: 'JT808_BASEMAP_URL', flag: 'basemap-url', kind: 'nullable-string' },
  { key: 'baseMapAttribution', env: 'JT808_BASEMAP_ATTRIBUTION', flag: 'basemap-attribution', kind: 'nullable-string' },
  { key: 'metricsToken', env: 'JT808_METRICS_TOKEN', flag: 'metrics-token', kind: 'secret' },
  { key: 'adminHttpAddr', env: 'JT808_ADMIN_HTTP_ADDR', flag: 'admin-http-addr', kind: 'address' },
  { key: 'redisCommandTimeoutMs', env: 'JT808_REDIS_TIMEOUT_MS', flag: 'redis-timeout-ms', kind: 'int', min: 50, max: 60_000 },
  { key: 'redisBufferedEntries', env: 'JT808_REDIS_BUFFER_ENTRIES', flag: 'redis-buffer-entries', kind: 'int', min: 1, max: 10_000_000 },
  { key: 'redisBufferedPositions', env: 'JT808_REDIS_BUFFER_POSITIONS', flag: 'redis-buffer-positions', kind: 'int', min: 1, max: 10_000_000 },
  { key: 'matcherConfig', env: 'JT808_MATCHER_CONFIG', flag: 'matcher-config', kind: 'nullable-string' },
  { key: 'attachmentsPort', env: 'JT808_ATTACHMENTS_PORT', flag: 'attachments-port', kind: 'int', min: 0, max: 65535 },
  { key: 'attachmentsServer', env: 'JT808_ATTACHMENTS_SERVER', flag: 'attachments-server', kind: 'choice', choices: ['in-process', 'separate'] },
  { key: 'attachmentsHost', env: 'JT808_ATTACHMENTS_HOST', flag: 'attachments-host', kind: 'string' },
  { key: 'attachmentsAdvertiseHost', env: 'JT808_ATTACHMENTS_ADVERTISE', flag: 'attachments-advertise', kind: 'nullable-string' },
  { key: 'attachmentsVariant', env: 'JT808_ATTACHMENTS_VARIANT', flag: 'attachments-variant', kind: 'choice', choices: ['jsatl12', 'gdrta'] },
  { key: 'attachmentsVariantByTerminal', env: 'JT808_ATTACHMENTS_VARIANT_BY_TERMINAL', flag: 'attachments-variant-by-terminal', kind: 'nullable-string' },
  { key: 'attachmentsMaxFileBytes', env: 'JT808_ATTACHMENTS_MAX_FILE_BYTES', flag: 'attachments-max-file-bytes', kind: 'int', min: 1, max: 0xffffffff },
  { key: 'attachmentsMaxFiles', env: 'JT808_ATTACHMENTS_MAX_FILES', flag: 'attachments-max-files', kind: 'int', min: 1, max: 255 },
  { key: 'attachmentsConnectionBytes', env: 'JT808_ATTACHMENTS_CONNECTION_BYTES', flag: 'attachments-connection-bytes', kind: 'int', min: 65536 },
  { key: 'attachmentsGlobalBytes', env: 'JT808_ATTACHMENTS_GLOBAL_BYTES', flag: 'attachments-global-bytes', kind: 'int', min: 65536 },
  { key: 'attachmentsFileDeadlineSeconds', env: 'JT808_ATTACHMENTS_FILE_DEADLINE_S', flag: 'attachments-file-deadline', kind: 'int', min: 1 },
  { key: 'attachmentsStore', env: 'JT808_ATTACHMENTS_STORE', flag: 'attachments-store', kind: 'nullable-string' },
  { key: 'retention.attachmentsDays', env: 'JT808_RETENTION_ATTACHMENTS_DAYS', flag: 'retention-attachments', kind: 'int', min: 1 },
  { key: 'matcherCheckpointSeconds', env: 'JT808_MATCHER_CHECKPOINT_S', flag: 'matcher-checkpoint', kind: 'int', min: 1, max: 3600 },
  { key: 'platformPort', env: 'JT808_PLATFORM_PORT', flag: 'platform-port', kind: 'nullable-int', min: 0, max: 65535 },
  { key: 'platformHost', env: 'JT808_PLATFORM_HOST', flag: 'platform-host', kind: 'string' },
  { key: 'platformDownlinkHost', env: 'JT808_PLATFORM_DOWNLINK_HOST', flag: 'platform-downlink-host', kind: 'nullable-string' },
  { key: 'platformIdleSeconds', env: 'JT808_PLATFORM_IDLE_S', flag: 'platform-idle', kind: 'int', min: 3, max: 3600 },
  { key: 'platformPostQueryMinutes', env: 'JT808_PLATFORM_POST_QUERY_MIN', flag: 'platform-post-query-min', kind: 'int', min: 1, max: 255 },
  { key: 'platformBacklogRate', env: 'JT808_PLATFORM_BACKLOG_RATE', flag: 'platform-backlog-rate', kind: 'int', min: 1, max: 1_000_000 },
]

/** Flags accepted by loadConfig, for --help texts. */
export const CONFIG_FLAGS = SETTINGS.map((s) => ({ flag: `--${s.flag}`, env: s.env, key: s.key }))

/**
 * Builds the configuration from env and flags (`{ port: "7611" }`, names without dashes).
 * Throws ConfigError listing every problem at once.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, flags: Record<string, string | boolean | undefined> = {}): Config {
  const cfg: Config = structuredClone(DEFAULTS)
  const problems: string[] = []
  let idleGiven = false
  for (const s of SETTINGS) {
    const fromFlag = flags[s.flag]
    const raw = fromFlag !== undefined ? fromFlag : env[s.env]
    if (raw === undefined || raw === '') continue
    if (s.key === 'idleTimeoutSeconds') idleGiven = true
    const where = fromFlag !== undefined ? `--${s.flag}` : s.env
    const value = parse(s, raw, where, problems)
    if (value === undefined) continue
    if (s.key.startsWith('retention.')) {
      const k = s.key.slice('retention.'.length) as keyof Config['retention']
      cfg.retention[k] = value as number
    } else {
      ;(cfg as unknown as Record<string, unknown>)[s.key] = value
    }
  }
  if (!idleGiven) cfg.idleTimeoutSeconds = cfg.heartbeatSeconds * 3
  if (cfg.workers > 1 && !cfg.redisUrl) problems.push(`workers=${cfg.workers} needs REDIS_URL: several processes share sessions and streams through Redis`)
  if (!cfg.nodeId) cfg.nodeId = `${hostname()}-${process.pid}`
  if (problems.length) throw new ConfigError(problems)
  return cfg
}

function parse(s: Setting, raw: string | boolean, where: string, problems: string[]): unknown {
  switch (s.kind) {
    case 'bool': {
      if (typeof raw === 'boolean') return raw
      if (/^(1|true|yes|on)$/i.test(raw)) return true
      if (/^(0|false|no|off)$/i.test(raw)) return false
      problems.push(`${where}: expected true/false, got "${raw}"`)
      return undefined
    }
    case 'nullable-int':
    case 'int': {
      const n = typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN
      if (!Number.isSafeInteger(n)) {
        problems.push(`${where}: expected an integer, got "${raw}"`)
        return undefined
      }
      if ((s.min !== undefined && n < s.min) || (s.max !== undefined && n > s.max)) {
        problems.push(`${where}: ${n} is outside ${s.min ?? '-∞'}..${s.max ?? '∞'}`)
        return undefined
      }
      return n
    }
    case 'secret':
      if (typeof raw === 'string' && raw.length >= 16 && !/\s/.test(raw)) return raw
      problems.push(`${where}: expected a secret of at least 16 characters without spaces`)
      return undefined
    case 'address':
      if (typeof raw === 'string' && splitHostPort(raw)) return raw
      problems.push(`${where}: expected host:port (e.g. 127.0.0.1:9464), got "${raw}"`)
      return undefined
    case 'mode':
      if (raw === 'registry' || raw === 'open') return raw
      problems.push(`${where}: expected "registry" or "open", got "${raw}"`)
      return undefined
    case 'log-level':
      if (typeof raw === 'string' && (LOG_LEVELS as readonly string[]).includes(raw)) return raw
      problems.push(`${where}: expected one of ${LOG_LEVELS.join(', ')}, got "${raw}"`)
      return undefined
    case 'choice':
      if (typeof raw === 'string' && s.choices?.includes(raw)) return raw
      problems.push(`${where}: expected one of ${s.choices?.map((c) => `"${c}"`).join(', ')}, got "${raw}"`)
      return undefined
    default:
      if (typeof raw !== 'string') {
        problems.push(`${where}: expected a value`)
        return undefined
      }
      return raw
  }
}

function hostname(): string {
  return (process.env.HOSTNAME || 'node').replace(/[^A-Za-z0-9_.-]/g, '')
}

/** "host:port", "[::1]:port" or ":port" (all interfaces) → its parts; null when malformed. */
export function splitHostPort(addr: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s[\]]*)):(\d{1,5})$/.exec(addr.trim())
  if (!m) return null
  const port = Number(m[3])
  if (port > 65535) return null
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port }
}
