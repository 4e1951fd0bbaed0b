/**
 * binary-parser 2.x ships typings for its CommonJS build only; under NodeNext its ESM entry
 * resolves untyped. This declares the part of its API protocol/ uses.
 */
declare module 'binary-parser' {
  export class Parser {
    constructor()
    endianness(e: 'big' | 'little'): this
    uint8(name: string): this
    uint16(name: string): this
    uint32(name: string): this
    sizeOf(): number
    parse(buffer: Uint8Array): unknown
  }
}
