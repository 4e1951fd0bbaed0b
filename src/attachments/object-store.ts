/**
 * The object-store port: where finished attachment files live. Two implementations, one
 * contract (test/attachments/object-store.test.ts runs the same cases against both):
 *   - the local file system (default): `${dataDir}/attachments/objects/<key>`, written under a
 *     temporary name and renamed, so a reader never sees half a file;
 *   - S3-compatible storage (MinIO, the Chinese clouds' S3 endpoints) through @aws-sdk/client-s3:
 *     one PUT per file, which S3 makes visible only when complete.
 * Files are assembled on local disk first (src/attachments/assembly.ts) and handed over whole.
 */
import { createReadStream } from 'node:fs'
import { copyFile, link, mkdir, rename, rm, stat, unlink } from 'node:fs/promises'
import { dirname, join, resolve, sep } from 'node:path'
import type { Readable } from 'node:stream'
import { randomUUID } from 'node:crypto'

export interface ByteRange {
  /** inclusive */
  start: number
  /** inclusive */
  end: number
}

export interface ObjectStore {
  readonly kind: 'fs' | 's3'
  /**
   * Stores the local file `path` under `key`; visible only once whole. The file is left in place
   * and must not be modified afterwards (the file-system store may hard-link it).
   */
  putFile(key: string, path: string, contentType: string): Promise<void>
  /** The object's bytes (a range of them), or null when there is no such object. */
  get(key: string, range?: ByteRange): Promise<Readable | null>
  /** Size in bytes, or null when absent. */
  size(key: string): Promise<number | null>
  /** Deletes the object; absent is not an error. */
  delete(key: string): Promise<void>
  close(): Promise<void>
}

/** Object keys are ours (alarm number / file id), but a key never leaves the store's root. */
export function checkKey(key: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/.test(key) || key.length > 512) throw new Error(`bad object key "${key}"`)
}

export class FileSystemObjectStore implements ObjectStore {
  readonly kind = 'fs' as const
  private readonly root: string

  constructor(root: string) {
    this.root = resolve(root)
  }

  private pathOf(key: string): string {
    checkKey(key)
    const p = resolve(this.root, key)
    if (!p.startsWith(this.root + sep)) throw new Error(`bad object key "${key}"`)
    return p
  }

  async putFile(key: string, path: string, _contentType?: string): Promise<void> {
    const target = this.pathOf(key)
    await mkdir(dirname(target), { recursive: true })
    const temp = join(dirname(target), `.${randomUUID()}.part`)
    try {
      // a hard link when the staging file is on the same file system (no copy), else a copy
      await link(path, temp).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'EXDEV' || e.code === 'EPERM' || e.code === 'ENOTSUP') return copyFile(path, temp)
        throw e
      })
      await rename(temp, target)
    } catch (e) {
      await unlink(temp).catch(() => undefined)
      throw e
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable | null> {
    const p = this.pathOf(key)
    if ((await this.size(key)) === null) return null
    return createReadStream(p, range ? { start: range.start, end: range.end } : {})
  }

  async size(key: string): Promise<number | null> {
    try {
      const s = await stat(this.pathOf(key))
      return s.isFile() ? s.size : null
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw e
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true })
  }

  async close(): Promise<void> {}
}

export interface S3Location {
  bucket: string
  endpoint?: string
  region: string
  /** path-style URLs (MinIO, most self-hosted stores): default true when an endpoint is given */
  forcePathStyle: boolean
  prefix: string
}

/** `s3://bucket[/prefix]?endpoint=http://host:9000&region=cn-north-1&pathStyle=true` */
export function parseS3Url(url: string): S3Location {
  const u = new URL(url)
  if (u.protocol !== 's3:' || !u.hostname) throw new Error(`attachments store "${url}": expected s3://bucket[/prefix]?endpoint=…`)
  const endpoint = u.searchParams.get('endpoint') ?? undefined
  const pathStyle = u.searchParams.get('pathStyle')
  return {
    bucket: u.hostname,
    endpoint,
    region: u.searchParams.get('region') ?? 'us-east-1',
    forcePathStyle: pathStyle === null ? endpoint !== undefined : pathStyle === 'true',
    prefix: u.pathname.replace(/^\/+|\/+$/g, ''),
  }
}

export interface S3Credentials {
  accessKeyId: string
  secretAccessKey: string
}

export async function openS3ObjectStore(loc: S3Location, credentials?: S3Credentials): Promise<ObjectStore> {
  const s3 = await import('@aws-sdk/client-s3')
  const client = new s3.S3Client({
    region: loc.region,
    endpoint: loc.endpoint,
    forcePathStyle: loc.forcePathStyle,
    // Checksums only where the API requires them: the SDK's default (aws-chunked bodies with a
    // CRC trailer) is stored verbatim, framing included, by S3-compatible servers that do not
    // know it (s3rver does; older MinIO and several cloud gateways too).
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(credentials ? { credentials } : {}),
  })
  const full = (key: string) => {
    checkKey(key)
    return loc.prefix ? `${loc.prefix}/${key}` : key
  }
  const missing = (e: unknown) => {
    const err = e as { name?: string; $metadata?: { httpStatusCode?: number } }
    return err.name === 'NoSuchKey' || err.name === 'NotFound' || err.$metadata?.httpStatusCode === 404
  }
  return {
    kind: 's3',
    async putFile(key, path, contentType) {
      const { size } = await stat(path)
      await client.send(new s3.PutObjectCommand({ Bucket: loc.bucket, Key: full(key), Body: createReadStream(path), ContentLength: size, ContentType: contentType }))
    },
    async get(key, range) {
      try {
        const r = await client.send(new s3.GetObjectCommand({ Bucket: loc.bucket, Key: full(key), ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }))
        return (r.Body as Readable | undefined) ?? null
      } catch (e) {
        if (missing(e)) return null
        throw e
      }
    },
    async size(key) {
      try {
        const r = await client.send(new s3.HeadObjectCommand({ Bucket: loc.bucket, Key: full(key) }))
        return r.ContentLength ?? 0
      } catch (e) {
        if (missing(e)) return null
        throw e
      }
    },
    async delete(key) {
      await client.send(new s3.DeleteObjectCommand({ Bucket: loc.bucket, Key: full(key) }))
    },
    async close() {
      client.destroy()
    },
  }
}

/** The configured store: S3 when `url` is set, else the file system under dataDir. */
export async function openObjectStore(url: string | null, dataDir: string, env: NodeJS.ProcessEnv = process.env): Promise<ObjectStore> {
  if (!url) return new FileSystemObjectStore(join(dataDir, 'attachments', 'objects'))
  const id = env.AWS_ACCESS_KEY_ID
  const secret = env.AWS_SECRET_ACCESS_KEY
  return openS3ObjectStore(parseS3Url(url), id && secret ? { accessKeyId: id, secretAccessKey: secret } : undefined)
}
