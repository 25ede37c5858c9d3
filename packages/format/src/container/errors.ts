// A container file that is not what its metadata says. The message starts with the file.

export class ContainerError extends Error {
  override readonly name = 'ContainerError';
  constructor(
    readonly file: string,
    readonly detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}
