/**
 * 0x8105 terminal control: command BYTE, parameters STRING (fields separated by ';').
 * Commands: 1 wireless upgrade, 2 connect to server, 3 power off, 4 reset, 5 factory reset,
 * 6 close data link, 7 close all wireless links.
 */
import type { HasAsSent } from '../bytes.js'
import type { BodyCodec } from '../message.js'

export interface TerminalControl extends HasAsSent {
  command: number
  /** Command parameters as sent; absent when the body is the command byte alone. */
  params?: string
}

export const terminalControl: BodyCodec<TerminalControl> = {
  decode(r) {
    const body: TerminalControl = { command: r.u8('command') }
    if (r.remaining > 0) body.params = r.restText('params', body)
    return body
  },
  encode(w, b) {
    w.u8(b.command)
    if (b.params !== undefined) w.text(b.params, 'params', b)
  },
}
