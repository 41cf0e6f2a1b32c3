// write-file-atomic ships no types and @types/write-file-atomic is not a dependency:
// these are the few parts of its API that the JSON store uses.
declare module 'write-file-atomic' {
  interface WriteFileAtomicOptions {
    /** Flush the temporary file to disk before the rename (default true). */
    fsync?: boolean
    mode?: number
    encoding?: BufferEncoding
    /** Called with the temporary file's name once it exists. */
    tmpfileCreated?: (tmpfile: string) => void | Promise<void>
  }

  /** Writes `filename` by writing a temporary file beside it, fsyncing it and renaming it over the target. */
  function writeFileAtomic(filename: string, data: string | Uint8Array, options?: WriteFileAtomicOptions): Promise<void>

  export default writeFileAtomic
}
