/**
 * binary-parser 2.x ships typings for its CommonJS build only; under NodeNext its ESM entry
 * resolves untyped. This declares the part of its API protocol/ uses.
 */
declare module 'binary-parser' {
  interface FieldOptions {
    length?: number
    type?: Parser
    formatter?: (value: never) => unknown
  }
  export class Parser {
    constructor()
    endianness(e: 'big' | 'little'): this
    uint8(name: string, options?: FieldOptions): this
    uint16(name: string, options?: FieldOptions): this
    uint32(name: string, options?: FieldOptions): this
    int16(name: string, options?: FieldOptions): this
    int32(name: string, options?: FieldOptions): this
    buffer(name: string, options: FieldOptions & { length: number }): this
    nest(name: string, options: FieldOptions & { type: Parser }): this
    sizeOf(): number
    parse(buffer: Uint8Array): unknown
  }
}
