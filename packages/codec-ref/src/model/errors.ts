// Errors of model-directory operations: one line, naming the file or directory involved.

export class ModelError extends Error {
  override readonly name = 'ModelError';
}
