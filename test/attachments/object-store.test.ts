/**
 * The object-store port's contract, run against both implementations: the local file system and
 * S3 (an S3-compatible server, s3rver, started here on loopback port 0 — the client is the
 * production @aws-sdk/client-s3).
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import t, { type Test } from 'tap'
import S3rver from 's3rver'
import { FileSystemObjectStore, openS3ObjectStore, parseS3Url, type ObjectStore } from '../../src/attachments/object-store.js'

async function bytesOf(r: Readable | null): Promise<Buffer | null> {
  if (!r) return null
  const parts: Buffer[] = []
  for await (const c of r as AsyncIterable<Buffer>) parts.push(c)
  return Buffer.concat(parts)
}

async function tempDir(t: Test, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

const STORES: Array<[string, (t: Test) => Promise<ObjectStore>]> = [
  ['fs', async (t) => new FileSystemObjectStore(join(await tempDir(t, 'jt808-objects-'), 'objects'))],
  [
    's3',
    async (t) => {
      const dir = await tempDir(t, 'jt808-s3rver-')
      const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: 'evidence', configs: [] }] })
      const { port } = (await server.run()) as { port: number }
      t.teardown(() => server.close())
      const store = await openS3ObjectStore(parseS3Url(`s3://evidence/jt808?endpoint=http://127.0.0.1:${port}&region=cn-north-1`), { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' })
      t.teardown(() => store.close())
      return store
    },
  ],
]

for (const [kind, open] of STORES) {
  t.test(`${kind}: put, get, ranges, size, delete`, async (t) => {
    const store = await open(t)
    t.equal(store.kind, kind)
    const src = join(await tempDir(t, 'jt808-src-'), 'file')
    const data = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31) & 0xff))
    await writeFile(src, data)
    t.equal(await store.size('a1/1'), null)
    t.equal(await store.get('a1/1'), null, 'absent: null, not an error')
    await store.putFile('a1/1', src, 'image/jpeg')
    t.equal(await store.size('a1/1'), data.length)
    t.ok((await bytesOf(await store.get('a1/1')))?.equals(data))
    t.ok((await bytesOf(await store.get('a1/1', { start: 100, end: 1099 })))?.equals(data.subarray(100, 1100)))
    t.ok((await bytesOf(await store.get('a1/1', { start: data.length - 1, end: data.length - 1 })))?.equals(data.subarray(data.length - 1)))
    // replacing an object is whole: the new bytes, nothing of the old
    const src2 = `${src}-2`
    await writeFile(src2, Buffer.from('short'))
    await store.putFile('a1/1', src2, 'image/jpeg')
    t.equal((await bytesOf(await store.get('a1/1')))?.toString(), 'short')
    await store.delete('a1/1')
    t.equal(await store.size('a1/1'), null)
    await store.delete('a1/1') // absent is fine
    await t.rejects(store.putFile('../escape', src, 'image/jpeg'), /bad object key/)
    await t.rejects(store.putFile('a/../../b', src, 'image/jpeg'), /bad object key/)
  })
}

t.test('fs: nothing half-written is visible (temporary name, then rename)', async (t) => {
  const root = join(await tempDir(t, 'jt808-objects-'), 'objects')
  const store = new FileSystemObjectStore(root)
  const src = join(await tempDir(t, 'jt808-src-'), 'file')
  await writeFile(src, Buffer.alloc(1 << 20, 7))
  await t.rejects(store.putFile('b/1', join(src, 'missing'), 'video/mp4'))
  t.equal(await store.size('b/1'), null, 'a failed put leaves no object')
  t.same(await readdir(join(root, 'b')), [], 'and no temporary file')
  await store.putFile('b/1', src, 'video/mp4')
  t.same(await readdir(join(root, 'b')), ['1'])
})

t.test('s3 URLs', async (t) => {
  t.same(parseS3Url('s3://bucket/pre/fix?endpoint=http://minio:9000'), { bucket: 'bucket', endpoint: 'http://minio:9000', region: 'us-east-1', forcePathStyle: true, prefix: 'pre/fix' })
  t.same(parseS3Url('s3://b?region=cn-north-1'), { bucket: 'b', endpoint: undefined, region: 'cn-north-1', forcePathStyle: false, prefix: '' })
  t.throws(() => parseS3Url('http://b'), /expected s3:\/\/bucket/)
})
