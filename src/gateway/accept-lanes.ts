/**
 * Accept lanes: more than one descriptor of the terminals' listening socket in one process.
 *
 * Node 20 (libuv 1.46) accepts one connection per listening descriptor per turn of the event loop
 * (measured: 3,000 `accept4` for 3,010 `epoll_pwait`, never an EAGAIN; bench/RESULTS.md,
 * 2026-12-06). A worker holding 10,000 terminals spends milliseconds per turn, so after a restart
 * it accepted a few hundred connections a second while the kernel's accept queue held tens of
 * thousands. Each extra descriptor of the same socket is registered with the event loop on its
 * own, so one turn accepts up to one connection per lane. (Node 22.12 adds `reusePort`, which
 * would give the same with a socket per lane.)
 *
 * The extra descriptors come from a process that can duplicate the socket: under node:cluster the
 * primary passes a worker's listening handle back to it (src/cli/commands/serve-cluster.ts); each
 * passage over the IPC channel is a new descriptor (SCM_RIGHTS). Driving them uses the handle
 * interface node:net itself drives (`listen`, `onconnection`, `new Socket({ handle })`). That
 * interface is Node's, not a documented API: every step is checked, and anything unexpected
 * leaves the process on its one lane, which is how it ran before.
 */
import { Socket, type Server } from 'node:net'

/** A listening TCP handle as node:net holds it (the part used here). */
export interface ListeningHandle {
  fd?: number
  listen(backlog: number): number
  onconnection: ((status: number, client?: unknown) => void) | null
  close(callback?: () => void): void
}

/** Obtains `count` more descriptors of the socket behind `handle`; resolves with fewer (or none) when it cannot. */
export type ListenerCopies = (handle: ListeningHandle, count: number) => Promise<ListeningHandle[]>

export function isListeningHandle(h: unknown): h is ListeningHandle {
  if (typeof h !== 'object' || h === null) return false
  const x = h as Record<string, unknown>
  return typeof x.listen === 'function' && typeof x.close === 'function' && typeof x.fd === 'number' && x.fd >= 0
}

/** The server's own handle when it is a real descriptor (under cluster round-robin it is the primary's stand-in). */
export function serverHandle(server: Server): ListeningHandle | null {
  const handle = (server as unknown as { _handle?: unknown })._handle
  return isListeningHandle(handle) ? handle : null
}

export interface AcceptLanes {
  /** lanes accepting, the server's own included */
  readonly count: number
  close(): void
}

/**
 * Adds up to `lanes - 1` lanes beside `server` (already listening), each handing its connections
 * to `onSocket` as node:net would (no delay set, as the server's own option says). Errors of a
 * lane (EMFILE: libuv already closed what it could not take) go to `onError`.
 */
export async function openAcceptLanes(
  server: Server,
  lanes: number,
  backlog: number,
  copies: ListenerCopies | undefined,
  onSocket: (socket: Socket) => void,
  onError: (err: Error) => void,
): Promise<AcceptLanes> {
  const own = serverHandle(server)
  if (lanes <= 1 || !copies || !own) return { count: 1, close: () => undefined }
  const extra = await copies(own, lanes - 1).catch(() => [] as ListeningHandle[])
  const open: ListeningHandle[] = []
  for (const h of extra) {
    h.onconnection = (status, client) => {
      if (status < 0 || !client) return onError(Object.assign(new Error(`accept failed (${status})`), { errno: status }))
      const socket = new Socket({ handle: client, readable: true, writable: true } as ConstructorParameters<typeof Socket>[0])
      socket.setNoDelay(true)
      onSocket(socket)
    }
    const err = h.listen(backlog)
    if (err !== 0) {
      h.close()
      onError(new Error(`an accept lane could not listen (${err})`))
      continue
    }
    open.push(h)
  }
  return {
    count: 1 + open.length,
    close: () => {
      for (const h of open.splice(0)) {
        h.onconnection = null
        h.close()
      }
    },
  }
}
